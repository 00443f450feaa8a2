"""The ViT layers, each checked against a reference implementation."""
import pytest
import timm.layers
import timm.models.vision_transformer as timm_vit
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from minivision import Attention, Block, Embeddings, Encoder, EncoderOutput, Mlp, PatchEmbeddings
from minivision.layers import resample_pos_embed

B, N, D, H = 3, 17, 32, 4


def copy_from_mha(attn: Attention, mha: nn.MultiheadAttention):
    """MHA stacks W_q, W_k, W_v in in_proj_weight exactly as our qkv does."""
    with torch.no_grad():
        attn.qkv.weight.copy_(mha.in_proj_weight)
        attn.qkv.bias.copy_(mha.in_proj_bias)
        attn.proj.weight.copy_(mha.out_proj.weight)
        attn.proj.bias.copy_(mha.out_proj.bias)


@pytest.mark.parametrize("fused", [False, True])
def test_attention_equals_torch_multihead_attention(fused):
    mha = nn.MultiheadAttention(D, H, batch_first=True).eval()
    for p in mha.parameters():  # MHA zero-inits its biases: make them non-trivial
        nn.init.normal_(p, std=0.2)
    attn = Attention(embed_dim=D, num_heads=H, fused=fused).eval()
    copy_from_mha(attn, mha)
    x = torch.randn(B, N, D)
    expected, expected_weights = mha(x, x, x, need_weights=True, average_attn_weights=False)
    out = attn(x)
    assert (out - expected).abs().max() <= 1e-5
    out2, weights = attn(x, return_attn=True)
    assert weights.shape == (B, H, N, N)
    assert_close(out2, expected, atol=1e-5, rtol=0)
    assert_close(weights, expected_weights, atol=1e-6, rtol=0)


def test_attention_weights_are_distributions():
    attn = Attention(embed_dim=D, num_heads=H)
    _, weights = attn(torch.randn(B, N, D), return_attn=True)
    assert_close(weights.sum(-1), torch.ones(B, H, N))
    assert (weights >= 0).all()


def test_explicit_attention_step_by_step_equals_sdpa():
    q, k, v = torch.randn(3, B, H, N, D // H).unbind(0)
    from minivision.layers import scaled_dot_product_attention

    out, _ = scaled_dot_product_attention(q, k, v, scale=(D // H) ** -0.5)
    assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=0)


def _forward_backward(module, x):
    x = x.clone().requires_grad_(True)
    out = module(x)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    grads = {name: p.grad.clone() for name, p in module.named_parameters()}
    return out, x.grad, grads


@pytest.mark.parametrize("mode", ["train_without_dropout", "eval_with_dropout"])
def test_fused_and_explicit_attention_agree_with_equal_gradients(mode):
    """Train mode without dropout, and eval mode *with* attention dropout configured (the
    vit-pytorch vivit.py bug: SDPA kept dropout on in eval)."""
    dropout = 0.0 if mode == "train_without_dropout" else 0.5
    explicit = Attention(embed_dim=D, num_heads=H, attn_dropout=dropout, fused=False)
    fused = Attention(embed_dim=D, num_heads=H, attn_dropout=dropout, fused=True)
    fused.load_state_dict(explicit.state_dict())
    for m in (explicit, fused):
        m.train(mode == "train_without_dropout")
    x = torch.randn(B, N, D)
    out_e, dx_e, grads_e = _forward_backward(explicit, x)
    out_f, dx_f, grads_f = _forward_backward(fused, x)
    assert_close(out_f, out_e, atol=1e-5, rtol=0)
    assert_close(dx_f, dx_e, atol=1e-5, rtol=0)
    for name in grads_e:
        assert_close(grads_f[name], grads_e[name], atol=1e-5, rtol=0, msg=name)


def test_attention_dropout_is_active_in_training_only():
    attn = Attention(embed_dim=D, num_heads=H, attn_dropout=0.5, fused=False)
    x = torch.randn(B, N, D)
    attn.train()
    assert not torch.allclose(attn(x), attn(x))
    attn.eval()
    assert_close(attn(x), attn(x))


def test_patch_embeddings_equal_a_linear_map_of_flattened_patches():
    """A conv with kernel = stride = P is the matrix E of ViT eq. 1 applied to each patch."""
    P, C = 4, 3
    embed = PatchEmbeddings(image_size=16, patch_size=P, in_channels=C, embed_dim=D)
    x = torch.randn(B, C, 16, 16)
    patches = x.unfold(2, P, P).unfold(3, P, P)  # (B, C, 4, 4, P, P)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(B, 16, C * P * P)  # (B, N, C*P*P), row by row
    E = embed.proj.weight.reshape(D, C * P * P)
    expected = patches @ E.T + embed.proj.bias
    assert_close(embed(x), expected, atol=1e-5, rtol=0)


def test_embeddings_prepend_cls_and_add_positions():
    emb = Embeddings(image_size=16, patch_size=4, in_channels=3, embed_dim=D)
    nn.init.normal_(emb.cls_token)
    nn.init.normal_(emb.pos_embed)
    x = torch.randn(B, 3, 16, 16)
    out = emb(x)
    assert out.shape == (B, 17, D)
    assert_close(out[:, 0], (emb.cls_token + emb.pos_embed[:, :1]).expand(B, 1, D)[:, 0])
    assert_close(out[:, 1:], emb.patch_embed(x) + emb.pos_embed[:, 1:])
    no_cls = Embeddings(image_size=16, patch_size=4, in_channels=3, embed_dim=D, class_token=False)
    assert no_cls(x).shape == (B, 16, D)


def test_resample_pos_embed_matches_timm():
    pos = torch.randn(1, 1 + 8 * 8, D)
    for new_grid in (4, 12):
        expected = timm.layers.resample_abs_pos_embed(pos, (new_grid, new_grid), num_prefix_tokens=1)
        assert_close(resample_pos_embed(pos, new_grid, 1), expected, atol=1e-5, rtol=0)


def test_dynamic_size_interpolates_position_embeddings():
    emb = Embeddings(image_size=16, patch_size=4, in_channels=3, embed_dim=D, dynamic_size=True)
    assert emb(torch.randn(2, 3, 24, 24)).shape == (2, 1 + 36, D)


def test_mlp_equals_timm_mlp():
    ours = Mlp(in_features=D, hidden_features=4 * D)
    ref = timm.layers.Mlp(D, 4 * D)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(B, N, D)
    assert_close(ours(x), ref(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("fused", [False, True])
def test_block_equals_timm_block(fused):
    """Same submodule names as timm, so the state dict loads strictly and outputs match."""
    ref = timm_vit.Block(D, H, mlp_ratio=4.0, qkv_bias=True).eval()
    ours = Block(embed_dim=D, num_heads=H, fused=fused).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(B, N, D)
    assert_close(ours(x), ref(x), atol=1e-5, rtol=0)


def test_encoder_returns_hidden_states_and_attentions():
    enc = Encoder(depth=3, embed_dim=D, num_heads=H).eval()
    x = torch.randn(B, N, D)
    out = enc(x, output_hidden_states=True, return_attn=True)
    assert isinstance(out, EncoderOutput)
    assert len(out.hidden_states) == 4 and len(out.attentions) == 3
    assert all(a.shape == (B, H, N, N) for a in out.attentions)
    assert_close(out.hidden_states[0], x)
    # the returned last state is the final LayerNorm of the last block's output
    assert_close(out.last_hidden_state, enc.norm(out.hidden_states[-1]))
    assert_close(out.last_hidden_state, enc(x), atol=1e-5, rtol=0)
    # each hidden state is the previous one through the next block
    assert_close(out.hidden_states[2], enc.blocks[1](out.hidden_states[1]), atol=1e-5, rtol=0)


def test_drop_path_is_identity_in_eval_and_unbiased_in_training():
    block = Block(embed_dim=D, num_heads=H, drop_path=0.5)
    x = torch.randn(B, N, D)
    block.eval()
    assert_close(block(x), block(x))
    from minivision.layers import drop_path

    y = torch.ones(20_000, 1, 1)
    dropped = drop_path(y, 0.25, training=True)
    assert_close(dropped.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert abs(dropped.mean().item() - 1.0) < 0.03


# ---- clear errors at the public boundary: the message names the problem and the fix ----

def test_error_image_size_not_divisible_by_patch():
    with pytest.raises(ValueError, match=r"image_size=30 is not divisible by patch_size=4.*Choose a patch size"):
        PatchEmbeddings(image_size=30, patch_size=4, embed_dim=D)


def test_error_wrong_number_of_channels():
    emb = Embeddings(image_size=16, patch_size=4, in_channels=3, embed_dim=D)
    with pytest.raises(ValueError, match=r"expected 3 input channels, got 1.*in_channels=1"):
        emb(torch.randn(2, 1, 16, 16))


def test_error_wrong_image_size():
    emb = Embeddings(image_size=16, patch_size=4, in_channels=3, embed_dim=D)
    with pytest.raises(ValueError, match=r"expected 16x16 images, got 32x32.*image_size=32.*dynamic_size=True"):
        emb(torch.randn(2, 3, 32, 32))


def test_error_not_a_batch_of_images():
    emb = Embeddings(image_size=16, patch_size=4, in_channels=3, embed_dim=D)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*unsqueeze\(0\)"):
        emb(torch.randn(3, 16, 16))


def test_error_embed_dim_not_divisible_by_heads():
    with pytest.raises(ValueError, match=r"embed_dim=30 is not divisible by num_heads=4.*Choose num_heads from \[1, 2, 3, 5, 6"):
        Attention(embed_dim=30, num_heads=4)
