"""The Colab-only path of lessons 03 and 05, run offline: a hub name, resolved from the cache.

In Colab, lesson 05 fine-tunes ``load_hf("google/vit-base-patch16-224")`` and lesson 03 calls
``VisionTransformer.from_hf`` with the same name: both go through ``snapshot_download``. Offline,
with the hub's cache holding a tiny random ViT under that name (written by ``save_pretrained``,
laid out as the hub lays out a download), the same call must resolve the name and import the model
exactly. Lesson 10's tiny BLIP and CLIP go through ``load_blip`` and ``load_clip`` in the lesson
itself (tests/test_multimodal.py).
"""
import pytest
import torch

from minivision import VisionTransformer
from minivision.models.vit_import import load_hf

transformers = pytest.importorskip("transformers")
constants = pytest.importorskip("huggingface_hub.constants")

HUB_MODEL = "google/vit-base-patch16-224"  # the name lessons 03 and 05 use in Colab


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A hub cache holding a tiny random ViT under HUB_MODEL, and the hub switched off."""
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, num_labels=5)
    model = transformers.ViTForImageClassification(config).eval()
    repo = tmp_path / ("models--" + HUB_MODEL.replace("/", "--"))
    commit = "0" * 40
    model.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return model


def test_a_hub_name_resolves_offline_from_the_cache(hub_cache):
    ours = load_hf(HUB_MODEL)  # lesson 05's from_hub(HUB_MODEL, ...) without num_classes
    x = torch.randn(2, 3, 32, 32)  # (B, C, H, W)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hub_cache(pixel_values=x).logits, atol=1e-5, rtol=0)
        again = VisionTransformer.from_hf(HUB_MODEL, num_classes=4)  # lesson 03's call
    assert again(x).shape == (2, 4)


def test_a_hub_name_missing_from_the_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match="save_pretrained"):
        load_hf(HUB_MODEL)
