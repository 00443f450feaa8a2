"""Jigsaw pretext task: the greedy Hamming permutation set, tile cutting, the shared-weight net."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minivision.ssl import (JigsawNet, JigsawPuzzle, cut_tiles, hamming_permutation_set,
                            pairwise_hamming)


def brute_force_greedy_scores(chosen: torch.Tensor, n: int, criterion: str) -> list[tuple]:
    """For each step k >= 1: (score of the permutation chosen at k, best score any unchosen
    permutation had), computed directly from itertools and Python sums."""
    every = list(itertools.permutations(range(n)))
    rows = [tuple(r) for r in chosen.tolist()]
    result = []
    for k in range(1, len(rows)):
        def score(p):
            d = [sum(a != b for a, b in zip(p, q)) for q in rows[:k]]
            return min(d) if criterion == "min" else sum(d)
        best = max(score(p) for p in every if p not in rows[:k])
        result.append((score(rows[k]), best))
    return result


@pytest.mark.parametrize("criterion", ["min", "mean"])
def test_each_greedy_pick_is_the_farthest_permutation(criterion):
    perms = hamming_permutation_set(12, num_tiles=5, criterion=criterion, seed=3)
    assert perms.shape == (12, 5) and perms.dtype == torch.long
    assert len({tuple(r) for r in perms.tolist()}) == 12  # distinct
    assert all(sorted(r) == list(range(5)) for r in perms.tolist())  # each a permutation
    for picked, best in brute_force_greedy_scores(perms, 5, criterion):
        assert picked == best


def test_default_set_keeps_every_pair_apart_better_than_the_mean_rule():
    # 1000 permutations of 9 tiles: max-min greedy guarantees a minimum pairwise distance that the
    # paper's mean rule does not (which can pick two permutations differing in 2 places)
    strict = pairwise_hamming(hamming_permutation_set(1000))
    loose = pairwise_hamming(hamming_permutation_set(1000, criterion="mean"))
    off = ~torch.eye(1000, dtype=torch.bool)
    assert strict.shape == (1000, 1000)
    assert strict[off].min() > loose[off].min()
    assert strict[off].min() >= 2  # any two distinct permutations differ in at least 2 places


def test_pairwise_hamming_against_direct_count():
    perms = torch.tensor([[0, 1, 2, 3], [1, 0, 2, 3], [3, 2, 1, 0]])
    expected = [[sum(a != b for a, b in zip(p, q)) for q in perms.tolist()] for p in perms.tolist()]
    assert pairwise_hamming(perms).tolist() == expected


def test_permutation_set_errors():
    with pytest.raises(ValueError, match=r"num_permutations must be in 1\.\.24 \(4!\)"):
        hamming_permutation_set(25, num_tiles=4)
    with pytest.raises(ValueError, match="criterion must be 'min' or 'mean'"):
        hamming_permutation_set(3, num_tiles=4, criterion="max")


def test_tiles_without_gap_stitch_back_to_the_resized_image():
    image = torch.rand(3, 32, 32)
    tiles = cut_tiles(image, grid=3, cell=16, tile=16)  # no gap, no jitter
    assert tiles.shape == (9, 3, 16, 16)
    rows = [torch.cat(list(tiles[r * 3:(r + 1) * 3]), dim=2) for r in range(3)]
    stitched = torch.cat(rows, dim=1)  # (3, 48, 48)
    resized = F.interpolate(image[None], size=(48, 48), mode="bilinear", align_corners=False,
                            antialias=True)[0]
    torch.testing.assert_close(stitched, resized, atol=0, rtol=0)


def test_tiles_with_gap_come_from_inside_their_cell():
    image = torch.arange(3 * 72 * 72, dtype=torch.float32).reshape(3, 72, 72)  # already 72x72
    tiles = cut_tiles(image, grid=3, cell=24, tile=20, generator=torch.Generator().manual_seed(0))
    for index in range(9):
        top_left = tiles[index, 0, 0, 0].item()  # value = row * 72 + col in channel 0
        row, col = divmod(int(top_left), 72)
        assert (index // 3) * 24 <= row <= (index // 3) * 24 + 4
        assert (index % 3) * 24 <= col <= (index % 3) * 24 + 4


def test_puzzle_shows_tiles_in_the_order_of_its_label():
    perms = hamming_permutation_set(10, seed=1)
    puzzle = JigsawPuzzle(perms, cell=16, tile=16, normalize_tiles=False, seed=0)
    image = torch.rand(3, 32, 32)
    shuffled, label = puzzle(image)
    assert shuffled.shape == (9, 3, 16, 16) and 0 <= label < 10
    original = cut_tiles(image, grid=3, cell=16, tile=16)
    for k in range(9):
        torch.testing.assert_close(shuffled[k], original[perms[label][k]], atol=0, rtol=0)
    normalised, _ = JigsawPuzzle(perms, cell=16, tile=12, seed=0)(image)
    torch.testing.assert_close(normalised.mean(dim=(1, 2, 3)), torch.zeros(9), atol=1e-5, rtol=0)


def test_jigsaw_net_shares_one_backbone_across_tiles():
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16))
    net = JigsawNet(backbone, feature_dim=16, num_permutations=30, hidden=32)
    tiles = torch.randn(2, 9, 3, 8, 8)
    logits = net(tiles)
    assert logits.shape == (2, 30)
    by_hand = net.head(torch.cat([backbone(tiles[:, k]) for k in range(9)], dim=1))
    torch.testing.assert_close(logits, by_hand)
    with pytest.raises(ValueError, match=r"expected tiles \(B, 9, C, t, t\)"):
        net(torch.randn(2, 8, 3, 8, 8))


def test_jitter_keeps_tiles_near_the_centre_of_their_cell():
    # Doersch et al.: a fixed gap and a small jitter (without jitter: anywhere in the cell)
    image = torch.arange(3 * 72 * 72, dtype=torch.float32).reshape(3, 72, 72)  # already 72x72
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        tiles = cut_tiles(image, grid=3, cell=24, tile=14, jitter=2, generator=generator)
        for index in range(9):
            row, col = divmod(int(tiles[index, 0, 0, 0].item()), 72)  # top-left pixel
            dy, dx = row - (index // 3) * 24, col - (index % 3) * 24
            assert 3 <= dy <= 7 and 3 <= dx <= 7, (index, dy, dx)  # centre 5, +-2
            seen.add(dx)
    assert seen == {3, 4, 5, 6, 7}
    centred = cut_tiles(image, grid=3, cell=24, tile=14, jitter=0)  # no randomness left
    assert int(centred[4, 0, 0, 0].item()) == (24 + 5) * 72 + 24 + 5
    with pytest.raises(ValueError, match=r"jitter must be in 0\.\.\(cell - tile\) // 2 = 5"):
        cut_tiles(image, grid=3, cell=24, tile=14, jitter=6)
