"""The checkpoint chain between lessons (minivision.model_cache): save, find, check, load."""
import json

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
