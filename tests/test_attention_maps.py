"""Attention maps and attention rollout (lesson 06), checked against direct computations."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from minivision import VisionTransformer  # noqa: E402
from minivision.analysis import (  # noqa: E402
    attention_maps,
    attention_rollout,
    cls_attention_map,
    plot_attention_grid,
    rollout_map,
    upsample,
)

B, L, H_HEADS, G = 2, 3, 2, 4  # batch, depth, heads, grid side (16 px / patch 4)
N = 1 + G * G


def tiny_vit(**overrides):
    torch.manual_seed(0)
    config = dict(
        image_size=16, patch_size=4, embed_dim=32, depth=L, num_heads=H_HEADS, num_classes=5
    )
    return VisionTransformer(**{**config, **overrides})


@pytest.fixture(scope="module")
def model():
    return tiny_vit().eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(B, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def all_hooks(model):
    return [
        h
        for m in model.modules()
        for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
    ]


def manual_attention(block, x):
    """softmax(q k^T / sqrt(d)) of one block, from its weights, for input tokens x (B, N, D)."""
    D = x.shape[-1]
    d = D // H_HEADS
    y = torch.nn.functional.layer_norm(
        x, (D,), block.norm1.weight, block.norm1.bias, block.norm1.eps
    )
    q = y @ block.attn.qkv.weight[:D].T + block.attn.qkv.bias[:D]
    k = y @ block.attn.qkv.weight[D : 2 * D].T + block.attn.qkv.bias[D : 2 * D]
    q = q.reshape(B, N, H_HEADS, d).transpose(1, 2)
    k = k.reshape(B, N, H_HEADS, d).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-1, -2) / d**0.5, dim=-1)


def test_attention_maps_match_manual_softmax(model, images):
    attn = attention_maps(model, images)
    assert attn.shape == (L, B, H_HEADS, N, N)
    torch.testing.assert_close(attn.sum(-1), torch.ones(L, B, H_HEADS, N))
    hidden = model.forward_features(images, output_hidden_states=True).hidden_states
    for layer, block in enumerate(model.encoder.blocks):  # block l reads hidden state l
        torch.testing.assert_close(
            attn[layer], manual_attention(block, hidden[layer]), atol=1e-6, rtol=1e-5
        )


def test_attention_maps_need_no_hooks_and_keep_the_model(images):
    model = tiny_vit(dropout=0.1).train()
    attention_maps(model, images)
    assert not all_hooks(model)
    assert model.training and all(m.training for m in model.modules())
    assert all(block.attn.fused for block in model.encoder.blocks)  # the switch is not flipped
    with pytest.raises(ValueError, match="B, C, H, W"):
        attention_maps(model, images[0])


def test_cls_attention_map_is_the_cls_row_on_the_grid(model, images):
    attn = attention_maps(model, images)
    maps = cls_attention_map(attn, G)
    assert maps.shape == (L, B, H_HEADS, G, G)
    for r in range(G):  # row-major: patch p = r * G + c is token 1 + p
        for c in range(G):
            torch.testing.assert_close(maps[..., r, c], attn[..., 0, 1 + r * G + c])
    with pytest.raises(ValueError, match="patch values"):
        cls_attention_map(attn, 5)
    with pytest.raises(ValueError, match="CLS"):
        cls_attention_map(attn, G, num_prefix_tokens=0)


def uniform_model():
    """Zero W_q, W_k and their biases: every score is 0, so every attention row is uniform (1/N)."""
    model = tiny_vit().eval()
    D = model.config.embed_dim
    with torch.no_grad():
        for block in model.encoder.blocks:
            block.attn.qkv.weight[: 2 * D] = 0.0
            block.attn.qkv.bias[: 2 * D] = 0.0
    return model


def test_uniform_attention_gives_uniform_maps_and_rollout(images):
    model = uniform_model()
    attn = attention_maps(model, images)
    torch.testing.assert_close(attn, torch.full_like(attn, 1 / N))
    torch.testing.assert_close(cls_attention_map(attn, G), torch.full((L, B, H_HEADS, G, G), 1 / N))
    plain = attention_rollout(attn, residual=False)
    torch.testing.assert_close(plain, torch.full((B, N, N), 1 / N))
    # with the residual, A_hat = (U + I) / 2 and U^2 = U (U uniform),
    # so A_hat^L = (1 - 2^-L) U + 2^-L I
    expected = (1 - 0.5**L) / N * torch.ones(N, N) + 0.5**L * torch.eye(N)
    torch.testing.assert_close(attention_rollout(attn), expected.expand(B, N, N))
    heat = rollout_map(model, images, normalize=False)  # the [CLS] row over the patches is flat
    assert heat.shape == (B, 16, 16)
    torch.testing.assert_close(heat, torch.full_like(heat, (1 - 0.5**L) / N))


def test_one_layer_rollout_is_half_attention_plus_identity(model, images):
    attn = attention_maps(model, images)[:1]  # (1, B, h, N, N)
    A = attn[0].mean(dim=1)  # (B, N, N)
    expected = 0.5 * A + 0.5 * torch.eye(N)
    expected = expected / expected.sum(-1, keepdim=True)
    torch.testing.assert_close(attention_rollout(attn), expected)
    torch.testing.assert_close(attention_rollout(list(attn)), expected)  # a list works too
    torch.testing.assert_close(attention_rollout(attn, residual=False), A)


def test_rollout_equals_the_matrix_product(model, images):
    attn = attention_maps(model, images)
    rollout = attention_rollout(attn)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(B, N))
    for b in range(B):
        layers = [0.5 * attn[layer, b].mean(0) + 0.5 * torch.eye(N) for layer in range(L)]
        product = torch.linalg.multi_dot(
            layers[::-1]
        )  # A_hat_L ... A_hat_1: the last layer on the left
        torch.testing.assert_close(rollout[b], product, atol=1e-6, rtol=1e-5)
        wrong_order = torch.linalg.multi_dot(layers)
        assert not torch.allclose(rollout[b], wrong_order, atol=1e-4)  # the order matters


def test_rollout_head_fusion_and_discard(model, images):
    attn = attention_maps(model, images)
    for fusion, reduce in [("max", torch.amax), ("min", torch.amin)]:
        rollout = attention_rollout(attn[:1], head_fusion=fusion, residual=False)
        fused = reduce(attn[0], dim=1)
        torch.testing.assert_close(rollout, fused / fused.sum(-1, keepdim=True))
    discarded = attention_rollout(attn[:1], discard_ratio=0.5, residual=False)
    assert ((discarded == 0).sum(-1) == int(N * 0.5)).all()  # each row lost its 8 weakest weights
    kept = attn[0].mean(1) * (discarded > 0)
    torch.testing.assert_close(discarded, kept / kept.sum(-1, keepdim=True))
    assert (
        attn[0].mean(1)[discarded > 0].reshape(B, N, -1).amin(-1)
        >= attn[0].mean(1).masked_fill(discarded > 0, -1).amax(-1)
    ).all()  # the kept are the largest
    for kwargs in [dict(head_fusion="median"), dict(discard_ratio=1.0)]:
        with pytest.raises(ValueError):
            attention_rollout(attn, **kwargs)
    with pytest.raises(ValueError, match="all layers"):
        attention_rollout(attn[0])


def test_rollout_map_is_the_upsampled_cls_row(model, images):
    heat = rollout_map(model, images)
    assert heat.shape == (B, 16, 16) and heat.min() >= 0 and heat.max() <= 1
    raw = rollout_map(model, images, normalize=False)
    grid = cls_attention_map(attention_rollout(attention_maps(model, images)), G)
    torch.testing.assert_close(raw, upsample(grid, 16))
    torch.testing.assert_close(upsample(grid, 16, mode="nearest")[:, ::4, ::4], grid)
    assert not all_hooks(model)
    with pytest.raises(ValueError, match="CLS"):
        rollout_map(tiny_vit(pool="mean"), images)


def test_plot_attention_grid(model, images):
    maps = cls_attention_map(attention_maps(model, images), G)[:, 0]  # (L, h, G, G)
    fig = plot_attention_grid(maps)
    assert isinstance(fig, Figure) and len(fig.axes) == L * H_HEADS
    fig2 = plot_attention_grid(upsample(maps, 16), image=images[0].sigmoid())
    assert isinstance(fig2, Figure)
    plt.close(fig)
    plt.close(fig2)
