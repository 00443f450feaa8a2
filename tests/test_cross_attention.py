"""CrossAttention and CrossAttentionBlock against torch.nn.MultiheadAttention and each other."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from minivision.layers.cross_attention import CrossAttention, CrossAttentionBlock

B, N, M, D, D_CTX, H = 2, 5, 7, 16, 12, 4


def _copy_from_mha(mha: nn.MultiheadAttention, **kwargs) -> CrossAttention:
    """Our layer with MHA's weights: with kdim != embed_dim, MHA keeps q/k/v weights separate."""
    ours = CrossAttention(embed_dim=D, context_dim=D_CTX, num_heads=H, **kwargs)
    with torch.no_grad():
        ours.q.weight.copy_(mha.q_proj_weight)
        ours.k.weight.copy_(mha.k_proj_weight)
        ours.v.weight.copy_(mha.v_proj_weight)
        q_bias, k_bias, v_bias = mha.in_proj_bias.chunk(3)
        ours.q.bias.copy_(q_bias)
        ours.k.bias.copy_(k_bias)
        ours.v.bias.copy_(v_bias)
        ours.proj.weight.copy_(mha.out_proj.weight)
        ours.proj.bias.copy_(mha.out_proj.bias)
    return ours


@pytest.fixture
def mha():
    mha = nn.MultiheadAttention(D, H, batch_first=True, kdim=D_CTX, vdim=D_CTX)
    with torch.no_grad():
        mha.in_proj_bias.normal_()  # MHA starts its biases at zero: make them count
        mha.out_proj.bias.normal_()
    return mha.eval()


@pytest.mark.parametrize("fused", [False, True])
def test_matches_multihead_attention(mha, fused):
    ours = _copy_from_mha(mha, fused=fused).eval()
    x, context = torch.randn(B, N, D), torch.randn(B, M, D_CTX)
    ref, ref_weights = mha(x, context, context, need_weights=True, average_attn_weights=True)
    assert_close(ours(x, context), ref, atol=1e-5, rtol=0)
    out, attn = ours(x, context, return_attn=True)
    assert attn.shape == (B, H, N, M)
    assert_close(out, ref, atol=1e-5, rtol=0)
    assert_close(attn.mean(dim=1), ref_weights, atol=1e-5, rtol=0)


@pytest.mark.parametrize("fused", [False, True])
def test_key_padding_mask_matches_multihead_attention(mha, fused):
    ours = _copy_from_mha(mha, fused=fused).eval()
    x, context = torch.randn(B, N, D), torch.randn(B, M, D_CTX)
    mask = torch.zeros(B, M, dtype=torch.bool)
    mask[0, 4:] = True  # the first context has 4 real tokens
    mask[1, 6:] = True
    ref, ref_weights = mha(x, context, context, key_padding_mask=mask)
    assert_close(ours(x, context, key_padding_mask=mask), ref, atol=1e-5, rtol=0)
    _, attn = ours(x, context, key_padding_mask=mask, return_attn=True)
    assert_close(attn.mean(dim=1), ref_weights, atol=1e-5, rtol=0)
    assert attn[0, :, :, 4:].abs().max() == 0  # padding gets no weight


@pytest.mark.parametrize("train, attn_dropout", [(True, 0.0), (False, 0.3)])
def test_fused_equals_explicit(train, attn_dropout):
    explicit = CrossAttention(embed_dim=D, context_dim=D_CTX, num_heads=H, attn_dropout=attn_dropout, fused=False)
    fused = CrossAttention(embed_dim=D, context_dim=D_CTX, num_heads=H, attn_dropout=attn_dropout, fused=True)
    fused.load_state_dict(explicit.state_dict())
    explicit.train(train)
    fused.train(train)
    x = torch.randn(B, N, D, requires_grad=True)
    context = torch.randn(B, M, D_CTX, requires_grad=True)
    mask = torch.zeros(B, M, dtype=torch.bool)
    mask[1, 3:] = True
    outputs, grads = [], []
    for layer in (explicit, fused):
        out = layer(x, context, key_padding_mask=mask)
        out.square().sum().backward()
        outputs.append(out)
        grads.append([x.grad.clone(), context.grad.clone()] + [p.grad.clone() for p in layer.parameters()])
        x.grad, context.grad = None, None
    assert_close(outputs[0], outputs[1], atol=1e-5, rtol=0)
    for g_explicit, g_fused in zip(*grads):
        assert_close(g_explicit, g_fused, atol=1e-5, rtol=1e-5)


def test_block_matches_its_definition_and_trains():
    block = CrossAttentionBlock(embed_dim=D, context_dim=D_CTX, num_heads=H, mlp_ratio=2.0).eval()
    x, context = torch.randn(B, N, D), torch.randn(B, M, D_CTX)
    y = x + block.attn(block.norm1(x), block.norm_context(context))
    expected = y + block.mlp(block.norm2(y))
    out, attn = block(x, context, return_attn=True)
    assert_close(block(x, context), expected)
    assert_close(out, expected)
    assert attn.shape == (B, H, N, M)
    block.train()
    block(x, context).sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_shapes_raise():
    layer = CrossAttention(embed_dim=D, context_dim=D_CTX, num_heads=H)
    x, context = torch.randn(B, N, D), torch.randn(B, M, D_CTX)
    with pytest.raises(ValueError, match="context_dim=16"):
        layer(x, torch.randn(B, M, D))
    with pytest.raises(ValueError, match=r"x must be \(B, N, 16\)"):
        layer(torch.randn(N, D), context)
    with pytest.raises(ValueError, match="batch sizes"):
        layer(x, torch.randn(B + 1, M, D_CTX))
    with pytest.raises(ValueError, match="key_padding_mask must be"):
        layer(x, context, key_padding_mask=torch.zeros(B, M + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        layer(x, context, key_padding_mask=torch.zeros(B, M))
    with pytest.raises(ValueError, match="divisible"):
        CrossAttention(embed_dim=10, num_heads=4)
