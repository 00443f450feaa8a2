"""Mean attention distance and effective tokens (minivision.analysis.attention_statistics),
against loops over queries and keys written from the definitions, and cases worked by hand."""
import math

import pytest
import torch

from minivision import VisionTransformer
from minivision.analysis import attention_maps, effective_tokens, mean_attention_distance


def random_maps(L=2, B=3, h=2, N=1 + 3 * 3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (2 * torch.randn(L, B, h, N, N, generator=gen)).softmax(dim=-1)  # (L, B, h, N, N)


def distance_by_loops(attn, g_h, g_w, patch_size, prefix):
    """The definition, one query and one key at a time: patch centres p pixels apart, the
    patch-to-patch weights renormalised per query, averaged over queries and images."""
    L, B, h = attn.shape[:3]
    out = torch.zeros(L, h, dtype=torch.float64)
    for layer in range(L):
        for head in range(h):
            values = []
            for b in range(B):
                for i in range(g_h * g_w):
                    row_i, col_i = divmod(i, g_w)
                    mass = sum(float(attn[layer, b, head, prefix + i, prefix + j])
                               for j in range(g_h * g_w))
                    total = 0.0
                    for j in range(g_h * g_w):
                        row_j, col_j = divmod(j, g_w)
                        pixels = patch_size * math.hypot(row_i - row_j, col_i - col_j)
                        total += float(attn[layer, b, head, prefix + i, prefix + j]) * pixels
                    values.append(total / mass)
            out[layer, head] = sum(values) / len(values)
    return out.float()


def tokens_by_loops(attn):
    L, B, h, N, _ = attn.shape
    out = torch.zeros(L, h, dtype=torch.float64)
    for layer in range(L):
        for head in range(h):
            values = []
            for b in range(B):
                for i in range(N):
                    entropy = -sum(float(p) * math.log(float(p))
                                   for p in attn[layer, b, head, i] if p > 0)
                    values.append(math.exp(entropy))
            out[layer, head] = sum(values) / len(values)
    return out.float()


def one_layer(rows):
    """(N, N) -> (1, 1, 1, N, N): one layer, one image, one head."""
    return torch.as_tensor(rows, dtype=torch.float32)[None, None, None]


@pytest.mark.parametrize("grid, prefix", [((3, 3), 1), ((2, 4), 1), ((3, 3), 0), ((2, 3), 2)])
def test_distance_matches_the_loops(grid, prefix):
    attn = random_maps(N=prefix + grid[0] * grid[1])
    got = mean_attention_distance(attn, grid, patch_size=4, num_prefix_tokens=prefix)
    assert got.shape == (2, 2) and got.dtype == torch.float32
    torch.testing.assert_close(got, distance_by_loops(attn, *grid, 4, prefix))


def test_tokens_match_the_loops():
    attn = random_maps()
    attn[0, 0, 0, 3] = torch.eye(10)[5]  # a one-hot row: 0 log 0 must count as 0
    torch.testing.assert_close(effective_tokens(attn), tokens_by_loops(attn))


def test_cases_worked_by_hand():
    # a 2 x 2 grid of 4-pixel patches and [CLS]: N = 5; patch 0 is top left, 1 top right
    N, p = 5, 4
    itself = one_layer(torch.eye(N))
    assert mean_attention_distance(itself, 2, p).item() == 0.0  # on its own patch: 0 px
    assert effective_tokens(itself).item() == pytest.approx(1.0)
    # uniform: from any patch, 0, p, p and p * sqrt(2) (itself, two neighbours, the diagonal)
    uniform = one_layer(torch.full((N, N), 1 / N))
    assert mean_attention_distance(uniform, 2, p).item() == pytest.approx(
        p * (0 + 1 + 1 + math.sqrt(2)) / 4)
    assert effective_tokens(uniform).item() == pytest.approx(N)
    # every patch reads its right or left neighbour (0 <-> 1, 2 <-> 3): exactly one patch away
    neighbour = torch.zeros(N, N)
    neighbour[0, 0] = 1.0  # [CLS] on itself
    for i, j in [(0, 1), (1, 0), (2, 3), (3, 2)]:
        neighbour[1 + i, 1 + j] = 1.0
    assert mean_attention_distance(one_layer(neighbour), 2, p).item() == pytest.approx(p)
    # the diagonal, on a 2 x 3 grid with 5-pixel patches: 5 * sqrt(1 + 1)
    diagonal = torch.zeros(7, 7)
    diagonal[0, 0] = 1.0
    for i, j in [(0, 4), (1, 5), (2, 4), (3, 1), (4, 0), (5, 1)]:
        diagonal[1 + i, 1 + j] = 1.0
    assert mean_attention_distance(one_layer(diagonal), (2, 3), 5).item() == pytest.approx(
        5 * math.sqrt(2))


def test_prefix_weight_is_renormalised_away():
    # half of every row on [CLS], half on the right neighbour: the distance is still p
    rows = torch.zeros(5, 5)
    rows[:, 0] = 0.5
    rows[0, 0] = 1.0
    for i, j in [(0, 1), (1, 0), (2, 3), (3, 2)]:
        rows[1 + i, 1 + j] = 0.5
    assert mean_attention_distance(one_layer(rows), 2, 4).item() == pytest.approx(4.0)
    # ... and a query patch with everything on [CLS] has no distance: left out, not 0 or NaN
    rows[1] = torch.tensor([1.0, 0, 0, 0, 0])
    assert mean_attention_distance(one_layer(rows), 2, 4).item() == pytest.approx(4.0)


def test_tokens_spread_evenly_and_unevenly():
    rows = torch.zeros(4, 4)
    rows[:, :2] = 0.5  # every row spread evenly over two tokens: 2 tokens
    assert effective_tokens(one_layer(rows)).item() == pytest.approx(2.0)
    rows = torch.tensor([[0.5, 0.25, 0.25, 0.0]]).expand(4, 4)  # entropy 1.5 log 2
    assert effective_tokens(one_layer(rows)).item() == pytest.approx(2 ** 1.5)


def test_per_layer_and_head_averages_over_images_and_queries():
    attn = random_maps(L=3, B=4, h=2)
    attn[1, :, 0] = torch.eye(10)  # layer 1, head 0: every token on itself
    distance = mean_attention_distance(attn, 3, 4)
    tokens = effective_tokens(attn)
    assert distance[1, 0] == 0.0 and tokens[1, 0] == pytest.approx(1.0)
    assert (distance[[0, 2]] > 0).all() and (tokens[[0, 2]] > 1).all()


def test_a_vit_lesson_06_size_uniform_reference_and_real_maps():
    # lesson 06's grid: 8 x 8 patches of 4 pixels and [CLS], N = 65
    uniform = torch.full((1, 1, 1, 65, 65), 1 / 65)
    assert mean_attention_distance(uniform, 8, 4).item() == pytest.approx(16.55, abs=0.005)
    torch.manual_seed(0)
    model = VisionTransformer(image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2)
    attn = attention_maps(model, torch.randn(2, 3, 16, 16))  # (2, 2, 2, 17, 17)
    torch.testing.assert_close(mean_attention_distance(attn, 4, 4),
                               distance_by_loops(attn, 4, 4, 4, 1))
    torch.testing.assert_close(effective_tokens(attn), tokens_by_loops(attn))


def test_bad_shapes_say_what_is_expected():
    with pytest.raises(ValueError, match=r"\(L, B, h, N, N\)"):
        effective_tokens(torch.rand(2, 4, 10, 10))
    with pytest.raises(ValueError, match="3 x 3 grid"):
        mean_attention_distance(random_maps(N=9), 3, 4)  # no room for [CLS]
