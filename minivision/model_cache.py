"""Models that one lesson trains and a later lesson starts from, kept under the data cache.

The course is a chain: lesson 05 pretrains the ViT that lesson 06 looks inside, lesson 08 trains
model M, which lessons 09 and 10 build on, and lesson 09's spatio-temporal model feeds lesson 10.
Training a model again in every lesson would cost the reader minutes and give each lesson a
different model. So the lesson that makes a model saves it here:

    ~/.cache/minivision/checkpoints/<name>.pt     the weights, the architecture, the settings
    ~/.cache/minivision/checkpoints/<name>.json   the same facts as text, and the file's sha256

(``$MINIVISION_DATA/checkpoints/`` when that variable is set, beside the datasets), and the
next lesson loads it when it is there, or trains one itself and says which lesson makes it and
how long that takes. Loading uses ``torch.load(weights_only=True)``, so a file cannot run code,
checks the sha256 (a truncated or edited file is an error, not a silently worse model) and
checks the architecture: the model class, its config and every weight's shape must match, and
an error names both sides. Quick mode (``MINIVISION_QUICK=1``) neither loads nor saves: it
trains its own tiny model, so a test run never leaves or finds a half-trained one.
"""
import hashlib
import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from .data.datasets import data_root
from .lesson import quick_mode
from .training.checkpoint import CheckpointError, atomic_write_text, save_checkpoint

FORMAT = "minivision-lesson-model-1"


def checkpoint_dir(root: str | os.PathLike | None = None) -> Path:
    """``root/checkpoints`` if given, else ``$MINIVISION_DATA/checkpoints``, else
    ``~/.cache/minivision/checkpoints``: setting MINIVISION_DATA moves all that minivision keeps
    (``make`` leaves it unset unless you set it, so a lesson run by ``make lessons`` and one run in
    Jupyter find the same checkpoints)."""
    if root is None and not os.environ.get("MINIVISION_DATA"):
        return Path.home() / ".cache" / "minivision" / "checkpoints"
    return data_root(root) / "checkpoints"


def architecture(model: nn.Module) -> dict:
    """What must agree for weights to mean the same thing: class, config, every shape."""
    config = getattr(model, "config", None)
    config = config.to_dict() if hasattr(config, "to_dict") else None
    shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
    return {"class": type(model).__name__, "config": config, "shapes": shapes}


def save_lesson_model(model: nn.Module, name: str, *, lesson: str, settings: dict,
                      root=None, quick: bool | None = None) -> Path | None:
    """Save ``model`` as ``name`` for the lessons after ``lesson``; returns the path.

    Args:
        model: the trained model (its weights are copied to the CPU).
        name: e.g. ``"model_m"``; the file is ``<checkpoint_dir>/<name>.pt``.
        lesson: the lesson that makes it, e.g. ``"08"`` (named in the messages of the others).
        settings: how it was trained (plain numbers and strings: epochs, images, minutes, the
            hardware), stored beside the weights and shown when it is loaded.
        quick: quick mode saves nothing (default: ``MINIVISION_QUICK``); returns None then.
    """
    if _quick(quick):
        return None
    path = checkpoint_dir(root) / f"{_check_name(name)}.pt"
    weights = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    facts = {"format": FORMAT, "name": name, "lesson": lesson, "settings": settings,
             "architecture": architecture(model), "torch": str(torch.__version__),
             "saved": time.strftime("%Y-%m-%d %H:%M:%S")}
    save_checkpoint(path, {**facts, "model": weights})
    facts["sha256"] = _sha256(path)
    atomic_write_text(path.with_suffix(".json"), json.dumps(facts, indent=2))
    return path


def load_lesson_model(model: nn.Module, name: str, *, made_by: str, minutes: float | None = None,
                      root=None, quick: bool | None = None) -> dict | None:
    """Load the saved ``name`` into ``model`` and return its facts, or None if there is none.

    Args:
        model: a freshly built model of the architecture the file was saved from.
        name: as in :func:`save_lesson_model`.
        made_by: the lesson that makes it (for the message when it is missing).
        minutes: about how long that lesson takes to make it (for the same message).
        quick: quick mode loads nothing and returns None (default: ``MINIVISION_QUICK``).

    Raises:
        CheckpointError: the file does not match its recorded sha256 (truncated or changed).
        ValueError: the saved architecture differs from ``model``'s; names both.
    """
    path = checkpoint_dir(root) / f"{_check_name(name)}.pt"
    if _quick(quick) or not path.is_file():
        cost = f" (about {minutes:g} minutes at its full settings)" if minutes else ""
        why = "quick mode trains its own tiny one" if _quick(quick) else f"{path} does not exist"
        print(f"No saved {name}: {why}. Lesson {made_by} makes it{cost}; training one here.")
        return None
    facts = _read_facts(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    _check_architecture(state["architecture"], architecture(model), path)
    model.load_state_dict(state["model"])
    return facts


def _read_facts(path: Path) -> dict:
    """The sidecar's facts, after checking that the weights file is the one it describes."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise CheckpointError(f"{path} has no {sidecar.name} beside it, so it cannot be checked; "
                              f"delete {path} and run the lesson that makes it again.")
    facts = json.loads(sidecar.read_text())
    if _sha256(path) != facts.get("sha256"):
        raise CheckpointError(f"{path} does not match the sha256 in {sidecar.name} (truncated or "
                              f"changed); delete both files and run lesson {facts.get('lesson')} "
                              "again.")
    return facts


def _check_architecture(saved: dict, wanted: dict, path: Path) -> None:
    """The saved model and the one to load into must agree on class, config and shapes."""
    if saved["class"] != wanted["class"] or saved["config"] != wanted["config"]:
        raise ValueError(f"{path} holds a {saved['class']} with config {saved['config']}, but the "
                         f"model to load into is a {wanted['class']} with config "
                         f"{wanted['config']}; build the model the file was saved from, or "
                         "delete the file to train a new one.")
    diff = sorted(set(saved["shapes"]) ^ set(wanted["shapes"]))  # weights only one side has
    shapes = [key for key in wanted["shapes"]
              if key in saved["shapes"] and saved["shapes"][key] != wanted["shapes"][key]]
    if diff or shapes:
        first = (diff or shapes)[0]
        raise ValueError(f"{path}: the saved {saved['class']} and the model to load into differ in "
                         f"{len(diff) + len(shapes)} weights (first: {first!r}: saved "
                         f"{saved['shapes'].get(first)}, model {wanted['shapes'].get(first)}).")


def _check_name(name: str) -> str:
    if not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise ValueError(f"a lesson model's name must be letters, digits, '_' or '-', "
                         f"got {name!r}.")
    return name


def _quick(quick: bool | None) -> bool:
    return quick_mode() if quick is None else quick


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
