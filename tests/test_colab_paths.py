"""The Colab-only paths of lessons 03, 05 and 10, run offline against tiny saved stand-ins.

In Colab, lesson 05 fine-tunes ``load_hf("google/vit-base-patch16-224")`` and lesson 03 calls
``minivision.load_hf`` with the same name: both go through ``snapshot_download``. Offline, with
the hub's cache holding a tiny random ViT under that name (written by ``save_pretrained``, laid
out as the hub lays out a download), the same call must resolve the name and import the model
exactly.

Lessons 03 and 10 have whole cells that run only in Colab (``if lesson.in_colab():`` and
``real_models``). The last two tests run those cells themselves, unchanged, in a fresh interpreter
that looks like Colab (tests/colab_cells.py): Hugging Face names (the ViT, BLIP) resolve from a
hub cache of tiny random models; the registry names of timm, open_clip and torchvision, which fix
a full-size architecture, are pointed at tiny models saved on disk. A cell that breaks fails
the test.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import minivision
from minivision.data import data_root
from minivision.models.vit_import import load_hf

transformers = pytest.importorskip("transformers")
constants = pytest.importorskip("huggingface_hub.constants")

ROOT = Path(__file__).resolve().parents[1]
HUB_MODEL = "google/vit-base-patch16-224"  # the name lessons 03 and 05 use in Colab


def hub_snapshot(cache: Path, repo_id: str) -> Path:
    """The folder where the hub cache keeps a download of ``repo_id`` (created, ref included)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def tiny_hf_vit(image_size=32, num_labels=5):
    config = transformers.ViTConfig(image_size=image_size, patch_size=8, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, num_labels=num_labels)
    return transformers.ViTForImageClassification(config).eval()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A hub cache holding a tiny random ViT under HUB_MODEL, and the hub switched off."""
    model = tiny_hf_vit()
    model.save_pretrained(hub_snapshot(tmp_path, HUB_MODEL))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return model


def test_a_hub_name_resolves_offline_from_the_cache(hub_cache):
    ours = load_hf(HUB_MODEL)  # lesson 05's from_hub(HUB_MODEL, ...) without num_classes
    x = torch.randn(2, 3, 32, 32)  # (B, C, H, W)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hub_cache(pixel_values=x).logits, atol=1e-5, rtol=0)
        again = minivision.load_hf(HUB_MODEL, num_classes=4)  # lesson 03's call (the re-export)
    assert again(x).shape == (2, 4)


def test_a_hub_name_missing_from_the_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match="save_pretrained"):
        load_hf(HUB_MODEL)


# ---- the Colab cells themselves -------------------------------------------------------------


def _noisy(model: torch.nn.Module) -> torch.nn.Module:
    """No zero bias, no identity LayerNorm: a swapped key would change the outputs."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def save_vit_stand_ins(folder: Path, hub: Path) -> dict:
    """Lesson 03's three ViT-B/16 downloads, as tiny random ViTs at 224 px (D = 32, 2 blocks)."""
    timm = pytest.importorskip("timm")
    import torchvision
    from timm.models import save_for_hf

    tiny_hf_vit(image_size=224, num_labels=10).save_pretrained(hub_snapshot(hub, HUB_MODEL))
    timm_args = dict(embed_dim=32, depth=2, num_heads=2)
    timm_model = _noisy(timm.create_model("vit_base_patch16_224", pretrained=False, **timm_args))
    save_for_hf(timm_model, str(folder / "timm"), model_args=timm_args)
    tv_args = dict(image_size=224, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32,
                   mlp_dim=64, num_classes=10)
    tv_model = _noisy(torchvision.models.VisionTransformer(**tv_args))
    torch.save(tv_model.state_dict(), folder / "vit_b_16.pth")
    return {"timm": {"vit_base_patch16_224": f"local-dir:{folder / 'timm'}"},
            "torchvision": {"vit_b_16": {"kwargs": tv_args, "file": str(folder / "vit_b_16.pth")}},
            "expected": {"hf": sum(p.numel() for p in tiny_hf_vit(224, 10).parameters()),
                         "torchvision": sum(p.numel() for p in tv_model.parameters())}}


def save_text_stand_ins(folder: Path, hub: Path) -> dict:
    """Lesson 10's BLIP (in the hub cache, under its name) and CLIP (a local-dir folder)."""
    pytest.importorskip("open_clip")
    from minivision.text import BLIP_NAME, CLIP_NAME, make_tiny_blip, make_tiny_clip

    make_tiny_blip(hub_snapshot(hub, BLIP_NAME))
    return {"open_clip": {CLIP_NAME: f"local-dir:{make_tiny_clip(folder / 'clip')}"}}


def run_as_colab(notebook: Path, indices: list[int], stand_ins: dict, tmp_path: Path, hub: Path):
    """Run the cells in a fresh interpreter that looks like Colab; returns its output."""
    (tmp_path / "stand_ins.json").write_text(json.dumps(stand_ins))
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1",
           "MINIVISION_QUICK": "1", "HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1",
           "MINIVISION_DATA": str(data_root()),  # the datasets, if this machine has them
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "colab_cells.py"), str(tmp_path / "stand_ins.json"),
         str(notebook), *map(str, indices)],
        env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, (f"{notebook.name} failed:\n{result.stdout[-3000:]}\n"
                                    f"{result.stderr[-6000:]}")
    return result.stdout


def code_cells(notebook: Path) -> list[tuple[int, str]]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def the_cell(cells, text: str) -> int:
    hits = [i for i, source in cells if text in source]
    assert len(hits) == 1, f"{len(hits)} cells contain {text!r}"
    return hits[0]


@pytest.mark.slow
def test_lesson_03_colab_cell_runs_offline(tmp_path):
    notebook = ROOT / "lessons" / "03_vit_anatomy.ipynb"
    hub = tmp_path / "hub"
    stand_ins = save_vit_stand_ins(tmp_path, hub)
    cells = code_cells(notebook)
    colab = the_cell(cells, "if lesson.in_colab():")
    indices = [the_cell(cells, "# Setup: imports"), the_cell(cells, "x_224 = "), colab]
    out = run_as_colab(notebook, indices, stand_ins, tmp_path, hub)
    assert "pretrained timm ViT-B/16: max |ours - timm| = " in out  # the cell asserts < 1e-4
    expected = stand_ins["expected"]
    assert f"loaded: {expected['hf']} {expected['torchvision']}" in out


@pytest.mark.slow
def test_lesson_10_colab_path_runs_offline(tmp_path):
    """Every code cell but the install cell, in quick mode, with real_models on."""
    from minivision.text import BLIP_NAME

    notebook = ROOT / "lessons" / "10_cross_attention.ipynb"
    hub = tmp_path / "hub"
    stand_ins = save_text_stand_ins(tmp_path, hub)
    cells = code_cells(notebook)
    install = the_cell(cells, "%pip install")
    out = run_as_colab(notebook, [i for i, _ in cells if i != install], stand_ins, tmp_path, hub)
    assert "real_models     : True" in out
    assert f"captions: {BLIP_NAME} | text embeddings: CLIP ViT-B-32 (openai)" in out
    assert "that name their image's class:" in out  # the leak, measured
    # the captions of the tiny BLIP were cached under the test's HOME, not the user's
    assert list((tmp_path / "home" / ".cache" / "minivision" / "captions").glob("*blip*.json"))
