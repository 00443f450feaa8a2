"""The VisionTransformer as a whole: shapes, gradients, determinism, presets."""
import pytest
import timm
import torch
from torch.testing import assert_close

from minivision import PRESETS, EncoderOutput, ViTConfig, VisionTransformer

TINY = dict(image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=4, num_classes=5)


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_forward_shape_no_nans_and_every_parameter_gets_a_gradient(pool):
    model = VisionTransformer(**TINY, pool=pool)
    x = torch.randn(3, 3, 16, 16)
    logits = model(x)
    assert logits.shape == (3, 5)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_forward_features_and_head_compose_to_forward():
    model = VisionTransformer(**TINY).eval()
    x = torch.randn(2, 3, 16, 16)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 17, 32)
    assert_close(model.forward_head(tokens), model(x))
    out = model.forward_features(x, return_attn=True, output_hidden_states=True)
    assert isinstance(out, EncoderOutput)
    assert_close(out.last_hidden_state, tokens, atol=1e-5, rtol=0)


def test_same_seed_same_numbers():
    outputs = []
    for _ in range(2):
        torch.manual_seed(1234)
        model = VisionTransformer(**TINY)
        outputs.append(model(torch.randn(2, 3, 16, 16)))
    assert torch.equal(outputs[0], outputs[1])


def test_fused_and_explicit_models_agree():
    explicit = VisionTransformer(**TINY, fused_attn=False).eval()
    fused = VisionTransformer(**TINY, fused_attn=True).eval()
    fused.load_state_dict(explicit.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert_close(fused(x), explicit(x), atol=1e-5, rtol=0)


def test_initialisation_follows_timm_scheme():
    model = VisionTransformer(**TINY)
    fc = model.encoder.blocks[0].mlp.fc1
    assert fc.bias.abs().max() == 0
    # trunc_normal_(std=0.02) cuts at +-2 in absolute terms (as in timm), i.e. 100 std: in effect
    # a plain normal(0, 0.02), which is what timm's ViTs are trained from.
    assert 0.018 < fc.weight.std() < 0.022
    assert abs(fc.weight.mean()) < 0.002
    assert model.embeddings.cls_token.abs().max() < 1e-4


def test_state_dict_keys_follow_timm_names():
    """The names inside a block are timm's, so a timm import is a table of prefix renames."""
    ours = VisionTransformer(**TINY)
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=16, patch_size=4,
                            embed_dim=32, depth=2, num_heads=4, num_classes=5)
    strip = lambda k: k.replace("embeddings.", "").replace("encoder.", "")  # noqa: E731
    assert sorted(strip(k) for k in ours.state_dict()) == sorted(ref.state_dict())


def test_parameter_count_matches_timm_for_vit_b16():
    ours = VisionTransformer.from_preset("vit_base_patch16_224", num_classes=1000)
    ref = timm.create_model("vit_base_patch16_224", pretrained=False)
    n = sum(p.numel() for p in ours.parameters())
    assert n == sum(p.numel() for p in ref.parameters())
    assert 86e6 < n < 87e6  # the ViT paper's "86M"


def test_presets_build_and_reject_unknown_names():
    for name in PRESETS:
        assert ViTConfig.from_preset(name).image_size in (32, 224)
    with pytest.raises(ValueError, match=r"unknown ViT preset 'vit_huge'.*vit_base_patch16_224"):
        ViTConfig.from_preset("vit_huge")


def test_reset_classifier():
    model = VisionTransformer(**TINY)
    model.reset_classifier(7)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 7)
    model.reset_classifier(0)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 32)


def test_config_errors():
    with pytest.raises(ValueError, match="pool must be 'cls' or 'mean'"):
        ViTConfig(pool="max")
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        ViTConfig(depth=0)
