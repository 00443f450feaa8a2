"""Checkpoints that survive a crash at any instant, and load with ``torch.load(weights_only=True)``.

A checkpoint is written whole to a temporary file in the same folder and flushed to the disk
(``fsync``) before anything is renamed. Only then does the rotation run, with ``os.replace``,
which is atomic on POSIX and Windows:

    last.pt --hard link--> .prev.pt.link.tmp        (the old checkpoint, under a second name)
    .last.pt.XXXX.tmp --replace--> last.pt          (the new one)
    .prev.pt.link.tmp --replace--> prev.pt          (the old one)

so at every instant last.pt (or, where hard links are not supported, prev.pt) is a complete
checkpoint, and prev.pt is the one before it. A kill mid-write leaves a stale ``.*.tmp`` file,
which :func:`remove_stale_temp_files` deletes at the next start. The state holds only tensors,
numbers, strings, lists and dicts, so loading it cannot run code (``weights_only=True``).
"""
import errno
import os
import random
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

FORMAT_VERSION = 1
_TEMP_NAMES = ("last.pt", "prev.pt", "metrics.json", "config.json")  # what leaves .NAME.*.tmp


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated or not a minivision checkpoint, or cannot be written."""


def save_checkpoint(path, state: dict, *, previous=None) -> Path:
    """Write ``state`` to ``path`` so that a crash at any moment leaves a complete checkpoint.

    Args:
        path: the file to write, e.g. ``runs/x/last.pt``; its folder is created.
        state: a dict of tensors, numbers, strings, lists and dicts.
        previous: if given and ``path`` exists, the old file becomes this one (``prev.pt``).

    Returns:
        the path written. A full disk or a read-only folder raises a :class:`CheckpointError`
        that says so; the files already there are left as they were.
    """
    path = Path(path)
    _write_atomically(path, lambda f: torch.save({"format_version": FORMAT_VERSION, **state}, f),
                      previous=None if previous is None else Path(previous))
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write a small text file (metrics.json, config.json) whole or not at all."""
    path = Path(path)
    _write_atomically(path, lambda f: f.write(text.encode()))
    return path


def _write_atomically(path: Path, write, previous: Path | None = None) -> None:
    """``write(file)`` into a temporary file, fsync it, then rotate it into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise CheckpointError(_storage_message(err, path)) from err
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # on the disk before any rename makes it visible
        if previous is not None and path.exists():
            _rotate(path, tmp, previous)
        else:
            os.replace(tmp, path)
        _fsync_folder(path.parent)  # make the renames themselves durable
    except BaseException as err:
        if os.path.exists(tmp):
            os.remove(tmp)
        os_error = _os_error_in(err)
        if isinstance(err, Exception) and os_error is not None:
            raise CheckpointError(_storage_message(os_error, path)) from err
        raise


def _rotate(path: Path, tmp: str, previous: Path) -> None:
    """last.pt := the new file, prev.pt := the old last.pt. With a hard link the old file keeps a
    name at every instant, so last.pt never disappears; without one (some network or FAT
    filesystems) it is renamed to prev.pt first, and for a moment only prev.pt exists."""
    link = previous.with_name(f".{previous.name}.link.tmp")
    try:
        link.unlink(missing_ok=True)
        os.link(path, link)  # the old last.pt, under a second name
    except OSError:
        os.replace(path, previous)
        os.replace(tmp, path)
        return
    os.replace(tmp, path)  # last.pt: the new checkpoint
    os.replace(link, previous)  # prev.pt: the old one


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder; its renames are journaled
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_error_in(err: BaseException) -> OSError | None:
    """The OSError behind ``err``: torch.save turns a failed write into a RuntimeError
    ("unexpected pos ...") whose context is the real OSError."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, OSError):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def _storage_message(err: OSError, path: Path) -> str:
    """What a failed write means, in the user's words, and what to do."""
    where = f"cannot write {path}"
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return (f"{where}: the disk is full (or the disk quota is used up). The previous "
                f"checkpoint in {path.parent} is kept; free some space, or choose another "
                f"output folder, then resume.")
    if err.errno == errno.EROFS:
        return f"{where}: the folder is on a read-only filesystem; choose a writable output folder."
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"{where}: permission denied (a read-only folder?); choose a writable output folder."
    not_a_folder = path.parent.exists() and not path.parent.is_dir()
    if err.errno in (errno.ENOTDIR, errno.EEXIST) or not_a_folder:
        return f"{where}: {path.parent} is a file, not a folder; choose another output folder."
    return f"{where}: {err.strerror or err} (errno {err.errno})."


def remove_stale_temp_files(folder) -> list[Path]:
    """Delete the temporary files a killed run left in ``folder`` (``.last.pt.*.tmp`` and the like).

    Call it only while holding the folder's :class:`~minivision.training.runlock.RunLock`: a
    running save's temporary file looks the same.
    """
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    for name in _TEMP_NAMES:
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load_checkpoint(path, *, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: naming the file, if it is missing, truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        previous = path.with_name("prev.pt")
        hint = f" {previous} exists: resume from it." if path.name == "last.pt" and \
            previous.is_file() else ""
        raise CheckpointError(f"checkpoint {path} does not exist.{hint}")
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


def load_latest_checkpoint(folder, *, map_location="cpu") -> tuple[dict, Path]:
    """``folder``/last.pt, or prev.pt (with a warning that says why) if last.pt is missing or
    unreadable. A CheckpointError names both files if neither loads."""
    folder = Path(folder)
    try:
        return load_checkpoint(folder / "last.pt", map_location=map_location), folder / "last.pt"
    except CheckpointError as last_error:
        if not (folder / "prev.pt").is_file():
            raise CheckpointError(f"nothing to resume in {folder}: {last_error}") from last_error
        state = load_checkpoint(folder / "prev.pt", map_location=map_location)
        warnings.warn(f"{last_error} Resuming from the previous checkpoint, {folder / 'prev.pt'} "
                      f"(step {state.get('position', {}).get('step', '?')}).", stacklevel=2)
        return state, folder / "prev.pt"


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
