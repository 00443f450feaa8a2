"""The checkpoint chain between lessons (minivision.model_cache): save, find, check, load."""
import ast
import json
import re
from pathlib import Path

import pytest
import torch

from minivision import VisionTransformer
from minivision.model_cache import (checkpoint_dir, load_lesson_model, save_lesson_model)
from minivision.models import resnet18
from minivision.training.checkpoint import CheckpointError

M_CONFIG = dict(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=4)


def _model_m(seed=0, **changes):
    torch.manual_seed(seed)
    return VisionTransformer(**{**M_CONFIG, **changes})


def test_saved_model_loads_into_a_fresh_model(tmp_path, capsys):
    trained = _model_m(seed=1)
    path = save_lesson_model(trained, "model_m", lesson="08", settings={"epochs": 20},
                             root=tmp_path, quick=False)
    assert path == tmp_path / "checkpoints" / "model_m.pt"
    fresh = _model_m(seed=2)
    assert not torch.equal(fresh.head.weight, trained.head.weight)
    facts = load_lesson_model(fresh, "model_m", made_by="08", root=tmp_path, quick=False)
    assert facts["lesson"] == "08" and facts["settings"] == {"epochs": 20}
    for (name, a), (_, b) in zip(trained.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name
    # the file itself is plain tensors and facts: it loads with weights_only=True
    state = torch.load(path, weights_only=True)
    assert set(state["model"]) == set(trained.state_dict())
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert len(sidecar["sha256"]) == 64 and sidecar["architecture"]["class"] == "VisionTransformer"


def test_missing_model_says_which_lesson_makes_it(tmp_path, capsys):
    model = _model_m()
    before = [p.clone() for p in model.parameters()]
    assert load_lesson_model(model, "model_m", made_by="08", minutes=12, root=tmp_path,
                             quick=False) is None
    out = capsys.readouterr().out
    assert "Lesson 08 makes it" in out and "12 minutes" in out and "does not exist" in out
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_quick_mode_neither_saves_nor_loads(tmp_path, capsys):
    model = _model_m()
    save_lesson_model(model, "model_m", lesson="08", settings={}, root=tmp_path, quick=False)
    assert save_lesson_model(model, "other", lesson="08", settings={}, root=tmp_path,
                             quick=True) is None
    assert not (tmp_path / "checkpoints" / "other.pt").exists()
    assert load_lesson_model(_model_m(), "model_m", made_by="08", root=tmp_path,
                             quick=True) is None
    assert "quick mode" in capsys.readouterr().out


def test_another_architecture_is_an_error_naming_both(tmp_path):
    save_lesson_model(_model_m(), "model_m", lesson="08", settings={}, root=tmp_path, quick=False)
    with pytest.raises(ValueError, match="VisionTransformer.*ResNet"):
        load_lesson_model(resnet18(num_classes=4), "model_m", made_by="08", root=tmp_path,
                          quick=False)
    with pytest.raises(ValueError, match="depth"):  # same class, another config
        load_lesson_model(_model_m(depth=3), "model_m", made_by="08", root=tmp_path, quick=False)


def test_same_config_other_shapes_is_an_error(tmp_path):
    model = _model_m()
    save_lesson_model(model, "model_m", lesson="08", settings={}, root=tmp_path, quick=False)
    other = _model_m()
    other.head = torch.nn.Linear(32, 7)  # e.g. a head replaced after building
    with pytest.raises(ValueError, match="head.weight"):
        load_lesson_model(other, "model_m", made_by="08", root=tmp_path, quick=False)


def test_a_changed_file_fails_its_hash(tmp_path):
    path = save_lesson_model(_model_m(), "model_m", lesson="08", settings={}, root=tmp_path,
                             quick=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CheckpointError, match="sha256.*lesson 08"):
        load_lesson_model(_model_m(), "model_m", made_by="08", root=tmp_path, quick=False)
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="cannot be checked"):
        load_lesson_model(_model_m(), "model_m", made_by="08", root=tmp_path, quick=False)


def test_where_the_checkpoints_live(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIVISION_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert checkpoint_dir() == tmp_path / "home" / ".cache" / "minivision" / "checkpoints"
    monkeypatch.setenv("MINIVISION_DATA", str(tmp_path / "data"))
    assert checkpoint_dir() == tmp_path / "data" / "checkpoints"
    with pytest.raises(ValueError, match="name"):
        save_lesson_model(_model_m(), "../escape", lesson="08", settings={}, quick=False)


# ---- the chain lesson 05 -> lesson 06: lesson 05 saves its pretrained backbone, 06 loads it ----
ROOT = Path(__file__).resolve().parents[1]


def _lesson_setup(lesson: str) -> dict:
    """What a lesson's code says about its source model, read without running it: the
    SOURCE_NAME constant, the PRETRAIN_CLASSES it assigns, and every settings dict of its
    setup cell (``lesson.by_mode(quick=dict(...), full=dict(...))``)."""
    (notebook,) = (ROOT / "lessons").glob(f"{lesson}_*.ipynb")
    cells = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
             if c["cell_type"] == "code"]
    (setup,) = [source for source in cells if "# Setup:" in source]
    found = {"modes": [], "classes": []}
    for node in ast.walk(ast.parse(setup)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SOURCE_NAME":
            found["name"] = ast.literal_eval(node.value)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "by_mode":
            found["modes"].append({kw.arg: {item.arg: _value(item.value)
                                            for item in kw.value.keywords}
                                   for kw in node.keywords})
    for source in cells:
        for classes in re.findall(r"PRETRAIN_CLASSES, \w+ = (\[[\d, ]+\])", source):
            found["classes"].append(ast.literal_eval(classes))
    return found


def _value(node: ast.expr):
    """A literal's value; anything else (a name such as HUB_MODEL) as its source text."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def _offline_modes(setup: dict) -> dict:
    """The settings of the micro ViT (lesson 05 also has the hub path's, for ViT-B/16)."""
    (modes,) = [m for m in setup["modes"] if m["full"]["model"] == "vit_micro_patch4_32"]
    return modes


def test_lesson_06_pretrains_what_lesson_05_saves_when_it_is_missing():
    made, used = _lesson_setup("05"), _lesson_setup("06")
    assert made["name"] == used["name"] == "lesson05_source_vit"
    assert made["classes"] == used["classes"] == [[0, 1, 2, 3, 4, 5]]
    made_settings, used_settings = _offline_modes(made), _offline_modes(used)
    for mode in ("quick", "full"):  # quick: the same tiny one; full: lesson 05's recipe
        for key in ("model", "pretrain_per_class", "pretrain_epochs", "pretrain_lr",
                    "batch_size"):
            assert used_settings[mode][key] == made_settings[mode][key], (mode, key)


def _lesson_05_source(seed=1):
    """The model lesson 05 pretrains: its preset, a head for its six pretraining classes."""
    torch.manual_seed(seed)
    return VisionTransformer.from_preset("vit_micro_patch4_32", num_classes=6)


def test_lesson_05s_source_model_loads_into_the_model_lesson_06_builds(tmp_path):
    source = _lesson_05_source()
    path = save_lesson_model(source, "lesson05_source_vit", lesson="05",
                             settings={"classes": [0, 1, 2, 3, 4, 5], "epochs": 10},
                             root=tmp_path, quick=False)
    assert path.name == "lesson05_source_vit.pt"
    settings = _offline_modes(_lesson_setup("06"))["full"]
    torch.manual_seed(2)  # lesson 06 builds a fresh one, then loads into it
    target = VisionTransformer.from_preset(settings["model"], num_classes=6)
    facts = load_lesson_model(target, "lesson05_source_vit", made_by="05", root=tmp_path,
                              quick=False)
    assert facts["lesson"] == "05" and facts["settings"]["classes"] == [0, 1, 2, 3, 4, 5]
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert torch.equal(a, b), name


def test_lesson_05s_source_model_refuses_another_architecture(tmp_path):
    save_lesson_model(_lesson_05_source(), "lesson05_source_vit", lesson="05", settings={},
                      root=tmp_path, quick=False)
    model_m = VisionTransformer.from_preset("vit_micro_patch8_32", num_classes=6)
    with pytest.raises(ValueError, match=r"'patch_size': 4.*model to load into.*"
                                         r"'patch_size': 8"):
        load_lesson_model(model_m, "lesson05_source_vit", made_by="05", root=tmp_path,
                          quick=False)
    four_classes = VisionTransformer.from_preset("vit_micro_patch4_32", num_classes=4)
    with pytest.raises(ValueError, match=r"'num_classes': 6.*'num_classes': 4"):
        load_lesson_model(four_classes, "lesson05_source_vit", made_by="05", root=tmp_path,
                          quick=False)
