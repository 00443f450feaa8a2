"""ViViT models 2 and 3 (Arnab et al. 2021): the factorised layers and the video classifiers."""
import pytest
import torch
from torch.testing import assert_close

from minivision.layers import Block, Encoder
from minivision.layers.spatiotemporal import FactorisedEncoder, FactorisedSelfAttentionBlock, TemporalEncoder
from minivision.models import VisionTransformer
from minivision.models.video import (
    FactorisedEncoderViT,
    FactorisedSelfAttentionViT,
    PerFrameViT,
    PseudoVideoClassifier,
)

B, T, N, D, H = 2, 3, 5, 16, 2


def _block(**kwargs):
    block = FactorisedSelfAttentionBlock(embed_dim=D, num_heads=H, mlp_ratio=2.0, **kwargs).eval()
    with torch.no_grad():  # LayerNorms away from the identity, so that mixing them up would show
        for name, p in block.named_parameters():
            if "norm" in name:
                p.normal_()
    return block


def test_block_equals_python_loops():
    block = _block()
    x = torch.randn(B, T, N, D)
    y = x.clone()
    for b in range(B):  # spatial: the N patches of frame t attend to each other
        for t in range(T):
            frame = x[b, t][None]  # (1, N, D)
            y[b, t] = (frame + block.attn(block.norm1(frame)))[0]
    z = y.clone()
    for b in range(B):  # temporal: the T frames at patch position n attend to each other
        for n in range(N):
            track = y[b, :, n][None]  # (1, T, D)
            z[b, :, n] = (track + block.temporal_attn(block.norm_temporal(track)))[0]
    expected = z + block.mlp(block.norm2(z))
    assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_one_frame_temporal_attention_is_its_value_path():
    # With T = 1 the softmax runs over a single key, so every weight is exactly 1 whatever q and k
    # are: temporal attention reduces to proj(W_v LN(x) + b_v). It is NOT the identity, so the block
    # equals a spatial Block only once that value path is removed (zero output projection).
    block = _block()
    x = torch.randn(B * N, 1, D)
    v_weight = block.temporal_attn.qkv.weight[2 * D:]  # rows of W_v in the packed qkv
    v_bias = block.temporal_attn.qkv.bias[2 * D:]
    value_path = block.temporal_attn.proj(x @ v_weight.T + v_bias)
    assert_close(block.temporal_attn(x), value_path, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("frames", [1, 3])
def test_without_temporal_branch_it_is_a_spatial_block(frames):
    block = _block()
    with torch.no_grad():
        block.temporal_attn.proj.weight.zero_()
        block.temporal_attn.proj.bias.zero_()
    spatial = Block(embed_dim=D, num_heads=H, mlp_ratio=2.0).eval()
    own = block.state_dict()
    spatial.load_state_dict({name: own[name] for name in spatial.state_dict()})  # same names
    x = torch.randn(B, frames, N, D)
    expected = spatial(x.reshape(B * frames, N, D)).reshape(B, frames, N, D)
    assert_close(block(x), expected, atol=1e-6, rtol=1e-5)


def test_temporal_attention_is_permutation_equivariant():
    block = _block()
    x = torch.randn(B, 4, N, D)
    perm = torch.tensor([2, 0, 3, 1])
    assert_close(block(x[:, perm]), block(x)[:, perm], atol=1e-5, rtol=1e-5)
    # ... so without a temporal position embedding, frame order is invisible to model 3.
    model = FactorisedSelfAttentionViT(num_frames=4, image_size=8, patch_size=4, embed_dim=D, depth=2, num_heads=H)
    model.eval()
    clip = torch.randn(B, 4, 3, 8, 8)
    assert not torch.allclose(model(clip[:, perm]), model(clip), atol=1e-4)
    with torch.no_grad():
        model.temporal_pos_embed.zero_()
    assert_close(model(clip[:, perm]), model(clip), atol=1e-5, rtol=1e-5)


def test_factorised_encoder_is_spatial_then_temporal():
    enc = FactorisedEncoder(num_frames=T, spatial_depth=2, temporal_depth=1, embed_dim=D, num_heads=H).eval()
    x = torch.randn(B, T, N, D)
    cls_per_frame = torch.stack([enc.spatial(x[:, t])[:, 0] for t in range(T)], dim=1)  # (B, T, D)
    tokens = torch.cat([enc.temporal.cls_token.expand(B, 1, D), cls_per_frame], dim=1) + enc.temporal.pos_embed
    expected = enc.temporal.encoder(tokens)
    assert isinstance(enc.temporal.encoder, Encoder)
    assert_close(enc(x), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="num_frames=4"):
        TemporalEncoder(num_frames=T, depth=1, embed_dim=D, num_heads=H)(torch.randn(B, 4, D))


def _backbone():
    return VisionTransformer(image_size=8, patch_size=4, embed_dim=D, depth=1, num_heads=H, num_classes=5)


MODELS = {
    "model3": lambda: FactorisedSelfAttentionViT(num_frames=T, image_size=8, patch_size=4, num_classes=5,
                                                 embed_dim=D, depth=2, num_heads=H),
    "model2": lambda: FactorisedEncoderViT(num_frames=T, image_size=8, patch_size=4, num_classes=5, embed_dim=D,
                                           spatial_depth=1, temporal_depth=1, num_heads=H),
    "per_frame": lambda: PerFrameViT(_backbone()),
    "pseudo_video": lambda: PseudoVideoClassifier(_backbone(), num_frames=T, num_classes=5, temporal_depth=2),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_video_models_shapes_and_gradients(name):
    model = MODELS[name]()
    clip = torch.randn(B, T, 3, 8, 8)
    logits = model(clip)
    assert logits.shape == (B, 5) and torch.isfinite(logits).all()
    logits.square().sum().backward()
    for param_name, p in model.named_parameters():
        if name == "pseudo_video" and param_name.startswith("backbone.head"):
            continue  # the backbone's own classifier is not used: only its features are
        assert p.grad is not None and p.grad.abs().sum() > 0, param_name
    if name != "per_frame":
        with pytest.raises(ValueError, match="frames"):
            model(torch.randn(B, T + 1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        model(torch.randn(B, 3, 8, 8))


def test_per_frame_is_the_mean_of_frame_logits_and_pseudo_video_keeps_backbone():
    backbone = _backbone().eval()
    clip = torch.randn(B, T, 3, 8, 8)
    expected = torch.stack([backbone(clip[:, t]) for t in range(T)]).mean(dim=0)
    assert_close(PerFrameViT(backbone)(clip), expected, atol=1e-6, rtol=1e-5)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    PseudoVideoClassifier(backbone, num_frames=T, num_classes=5)
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k]), f"constructing the classifier changed the pretrained {k}"
