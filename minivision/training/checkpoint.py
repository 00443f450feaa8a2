"""Atomic checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint is written to a temporary file in the same folder and then renamed over the old one
with ``os.replace``, which is atomic on POSIX and Windows: a crash or Ctrl-C while saving leaves
the previous checkpoint whole. The state holds only tensors, numbers, strings, lists and dicts,
so loading it cannot run code (``weights_only=True``).
"""
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or not a minivision checkpoint."""


def save_checkpoint(path, state: dict, *, previous=None) -> Path:
    """Write ``state`` to ``path`` atomically.

    Args:
        path: the file to write, e.g. ``runs/x/last.pt``; its folder is created.
        state: a dict of tensors, numbers, strings, lists and dicts.
        previous: if given and ``path`` exists, the old file is first renamed to this path
            (``prev.pt``), so two good checkpoints exist at any time.

    Returns:
        the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format_version": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it visible
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_checkpoint(path, *, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: naming the file, if it is missing, truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a cut file fails in the zip reader, a garbled one in unpickling
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it is truncated or corrupt ({type(err).__name__}: "
            f"{err}). If it was being written when the run stopped, use the previous one "
            f"(prev.pt in the same folder)."
        ) from err
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"{path} is not a minivision checkpoint (no 'format_version' key).")
    return state


def get_rng_state() -> dict:
    """Every random generator a training step touches, as tensors (weights_only-safe)."""
    version, mt_state, gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": torch.tensor(mt_state, dtype=torch.int64),  # 624 words + position
        "python_version": version,
        "python_gauss": gauss,
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` saved."""
    python_state = tuple(state["python"].tolist())
    random.setstate((state["python_version"], python_state, state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
