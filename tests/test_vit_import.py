"""Import parity (minGPT's test_huggingface_import, offline): random HF, timm and torchvision ViTs are
imported and must give the same outputs as the source; broken checkpoints must fail with clear messages."""
import pytest
import timm
import torch
import torchvision
import transformers
from safetensors.torch import load_file, save_file
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import checkpoint_filter_fn
from torch.testing import assert_close

import minivision
from minivision import ViTConfig
from minivision.models.vit_import import convert_state_dict, load_hf, load_timm, load_torchvision

# (image_size, patch_size, embed_dim, depth, num_heads, num_classes)
TINY_32 = (32, 4, 64, 2, 4, 10)
SMALL_224 = (224, 16, 96, 2, 3, 7)
VIT_B_16 = (224, 16, 768, 12, 12, 1000)


def randomize(model: torch.nn.Module, max_numel: float = float("inf")) -> torch.nn.Module:
    """Perturb the parameters (those up to ``max_numel`` elements), so that biases are not zero, LayerNorms
    not ones and torchvision's head not zero: a swapped key (norm1 for norm2, k for v) changes the output."""
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() <= max_numel:
                p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def timm_vit(size, **kwargs):
    image, patch, dim, depth, heads, classes = size
    return randomize(timm.models.vision_transformer.VisionTransformer(
        img_size=image, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads, num_classes=classes, **kwargs))


def torchvision_vit(size, **kwargs):
    image, patch, dim, depth, heads, classes = size
    return randomize(torchvision.models.VisionTransformer(
        image_size=image, patch_size=patch, num_layers=depth, num_heads=heads, hidden_dim=dim, mlp_dim=4 * dim,
        num_classes=classes, **kwargs))


def hf_vit(size, cls=transformers.ViTForImageClassification, **kwargs):
    image, patch, dim, depth, heads, classes = size
    config = transformers.ViTConfig(image_size=image, patch_size=patch, hidden_size=dim, num_hidden_layers=depth,
                                    num_attention_heads=heads, intermediate_size=4 * dim, num_labels=classes, **kwargs)
    return cls(config)


def images(size, batch=2):
    return torch.randn(batch, 3, size[0], size[0])


def assert_same(ours: torch.Tensor, reference: torch.Tensor):
    assert ours.shape == reference.shape
    assert reference.std() > 0.01  # not a vacuous comparison (torchvision initialises its head to zeros)
    assert_close(ours, reference, atol=1e-4, rtol=0)
    assert (ours - reference).abs().max().item() <= 1e-4


@pytest.mark.parametrize("size", [TINY_32, SMALL_224], ids=["32px_patch4", "224px_patch16"])
@pytest.mark.parametrize("source", ["timm", "torchvision", "hf", "hf_save_pretrained"])
def test_logits_match_the_source(source, size, tmp_path):
    x = images(size)
    if source == "timm":
        reference = timm_vit(size)
        model = load_timm(reference)
    elif source == "torchvision":
        reference = torchvision_vit(size)
        model = load_torchvision(reference)
    else:
        reference = randomize(hf_vit(size))
        if source == "hf_save_pretrained":  # the files keep the older names (encoder.layer.N.attention.attention...)
            reference.save_pretrained(tmp_path)
            assert any(".attention.attention.query." in k for k in load_file(tmp_path / "model.safetensors"))
        model = load_hf(tmp_path if source == "hf_save_pretrained" else reference)
        assert model.encoder.norm.eps == model.encoder.blocks[0].norm1.eps == 1e-12  # HF's eps, not timm's 1e-6
    with torch.no_grad():
        expected = reference(pixel_values=x).logits if source.startswith("hf") else reference(x)
        assert_same(model(x), expected)
    assert not model.training


@pytest.mark.slow
@pytest.mark.parametrize("source", ["timm", "torchvision", "hf"])
def test_full_size_vit_b_16(source):
    """The real ViT-B/16 shapes (86M parameters); only the small tensors are perturbed, to keep it fast."""
    x = images(VIT_B_16, batch=1)
    if source == "timm":
        reference, load = timm.create_model("vit_base_patch16_224", pretrained=False), load_timm
    elif source == "torchvision":
        reference, load = torchvision.models.vit_b_16(weights=None), load_torchvision
    else:
        reference, load = hf_vit(VIT_B_16), load_hf
    model = load(randomize(reference, max_numel=1e6))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    with torch.no_grad():
        expected = reference(pixel_values=x).logits if source == "hf" else reference(x)
        assert_same(model(x), expected)


@pytest.mark.parametrize("where", ["memory", "save_pretrained", "pytorch_model.bin"])
def test_hf_vit_model_without_head(where, tmp_path):
    """ViTModel: no classifier (so no head), its pooler is ignored, last_hidden_state == forward_features."""
    reference = randomize(hf_vit(TINY_32, cls=transformers.ViTModel))
    assert any(k.startswith("pooler.") for k in reference.state_dict())
    source = reference
    if where != "memory":
        reference.save_pretrained(tmp_path)
        source = tmp_path
    if where == "pytorch_model.bin":  # older checkpoints: a pickle instead of safetensors
        torch.save(load_file(tmp_path / "model.safetensors"), tmp_path / "pytorch_model.bin")
        (tmp_path / "model.safetensors").unlink()
    model = load_hf(source)
    assert isinstance(model.head, torch.nn.Identity) and model.config.num_classes == 0
    x = images(TINY_32)
    with torch.no_grad():
        assert_same(model.forward_features(x), reference(pixel_values=x).last_hidden_state)
    assert load_hf(source, num_classes=5)(x).shape == (2, 5)  # a fresh head on request


def test_hf_without_qkv_bias():
    reference = randomize(hf_vit(TINY_32, qkv_bias=False))
    model = load_hf(reference)
    assert model.encoder.blocks[0].attn.qkv.bias is None
    x = images(TINY_32)
    with torch.no_grad():
        assert_same(model(x), reference(pixel_values=x).logits)


def test_timm_mean_pooling_without_class_token():
    reference = timm_vit(TINY_32, class_token=False, global_pool="avg", fc_norm=False)
    model = load_timm(reference)
    assert model.config.pool == "mean" and model.embeddings.cls_token is None
    x = images(TINY_32)
    with torch.no_grad():
        assert_same(model(x), reference(x))


@pytest.mark.parametrize("new_size", [48, 16])
def test_timm_position_embedding_interpolation(new_size):
    """Importing at a new image size equals timm's own model at that size, given the checkpoint resampled
    by timm's checkpoint_filter_fn (bicubic, antialiased)."""
    source = timm_vit(TINY_32)
    image, patch, dim, depth, heads, classes = TINY_32
    reference = timm.models.vision_transformer.VisionTransformer(
        img_size=new_size, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads, num_classes=classes).eval()
    reference.load_state_dict(checkpoint_filter_fn(source.state_dict(), reference))
    model = load_timm(source, image_size=new_size)
    assert model.embeddings.pos_embed.shape == (1, 1 + (new_size // patch) ** 2, dim)
    x = torch.randn(2, 3, new_size, new_size)
    with torch.no_grad():
        assert_same(model(x), reference(x))


@pytest.mark.parametrize("source", ["hf", "torchvision"])
def test_every_importer_resamples_like_timm(source):
    reference = randomize(hf_vit(TINY_32)) if source == "hf" else torchvision_vit(TINY_32)
    pos_embed = reference.vit.embeddings.position_embeddings if source == "hf" else reference.encoder.pos_embedding
    load = minivision.load_hf if source == "hf" else minivision.load_torchvision  # the re-exports
    model = load(reference, image_size=48)
    assert_close(model.embeddings.pos_embed.data, resample_abs_pos_embed(pos_embed.data, new_size=[12, 12]),
                 atol=1e-6, rtol=0)
    assert model(images((48,))).shape == (2, 10)


def test_new_number_of_classes_keeps_the_body():
    reference = timm_vit(TINY_32)
    model = minivision.load_timm(reference, num_classes=3, fused_attn=False)
    assert model.head.weight.shape == (3, 64) and not model.config.fused_attn
    x = images(TINY_32)
    with torch.no_grad():
        assert_same(model.forward_features(x), reference.forward_features(x))


def timm_state_dict_with(change):
    state_dict = dict(timm_vit(TINY_32).state_dict())
    change(state_dict)
    return state_dict


def config_of_tiny():
    image, patch, dim, depth, heads, classes = TINY_32
    return ViTConfig(image_size=image, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads,
                     num_classes=classes)


def test_missing_key_is_named():
    state_dict = timm_state_dict_with(lambda sd: sd.pop("blocks.1.mlp.fc2.bias"))
    with pytest.raises(ValueError, match=r"missing source keys \(1\): \['blocks\.1\.mlp\.fc2\.bias'\]"):
        convert_state_dict(state_dict, config_of_tiny(), source="timm")


def test_unexpected_key_is_named():
    state_dict = timm_state_dict_with(lambda sd: sd.update({"blocks.0.ls1.gamma": torch.ones(64)}))
    with pytest.raises(ValueError, match=r"unexpected source keys \(1\): \['blocks\.0\.ls1\.gamma'\]"):
        convert_state_dict(state_dict, config_of_tiny(), source="timm")


def test_wrong_shape_is_named():
    state_dict = timm_state_dict_with(lambda sd: sd.update({"blocks.0.attn.proj.weight": torch.zeros(64, 32)}))
    with pytest.raises(ValueError, match=r"blocks\.0\.attn\.proj\.weight: \(64, 32\), expected \(64, 64\)"):
        convert_state_dict(state_dict, config_of_tiny(), source="timm")


def test_broken_hf_checkpoint_file_is_named(tmp_path):
    hf_vit(TINY_32).save_pretrained(tmp_path)
    state_dict = load_file(tmp_path / "model.safetensors")
    del state_dict["vit.encoder.layer.1.attention.attention.key.weight"]
    state_dict["vit.encoder.layer.0.attention.attention.value.bias"] = torch.zeros(65)
    save_file(state_dict, tmp_path / "model.safetensors")
    missing = r"missing source keys \(1\): \['encoder\.layer\.1\.attention\.attention\.key\.weight'\]"
    wrong_shape = r"encoder\.layer\.0\.attention\.attention\.value\.bias: \(65,\), expected \(64,\)"
    with pytest.raises(ValueError, match=f"(?s){missing}.*{wrong_shape}"):
        load_hf(tmp_path)


@pytest.mark.parametrize("kwargs, feature", [
    (dict(reg_tokens=1), "reg_tokens"),
    (dict(init_values=1e-5), "layer scale"),
    (dict(qk_norm=True), "qk_norm"),
    (dict(global_pool="avg"), "fc_norm"),
    (dict(no_embed_class=True), "no_embed_class"),
    (dict(dynamic_img_size=True), "dynamic_img_size"),
    (dict(pre_norm=True), "pre_norm"),
    (dict(act_layer="gelu_tanh"), "exact GELU"),
])
def test_timm_features_we_lack_are_rejected(kwargs, feature):
    with pytest.raises(ValueError, match=feature):
        load_timm(timm_vit(TINY_32, **kwargs))


def test_other_unsupported_sources_are_rejected():
    with pytest.raises(ValueError, match="representation_size"):
        load_torchvision(torchvision_vit(TINY_32, representation_size=32))
    with pytest.raises(ValueError, match="hidden_act='gelu_new'"):
        load_hf(hf_vit(TINY_32, hidden_act="gelu_new"))
    with pytest.raises(ValueError, match="embed_dim"):
        load_timm(timm_vit(TINY_32), embed_dim=32)
    with pytest.raises(ValueError, match="expected a timm VisionTransformer"):
        load_timm(torchvision_vit(TINY_32))


def test_downloads_fail_clearly_offline():
    with pytest.raises(OSError, match="could not download"):
        load_hf("minivision-tests/no-such-model")
    with pytest.raises(ValueError, match="not a directory"):
        load_hf("/no/such/directory")
