"""One run per output folder: a lock file that the operating system releases when its process ends.

Two runs writing to the same folder would mix their checkpoints (last.pt from one, prev.pt from the
other) without a word. ``fit`` and ``minivision train`` therefore hold ``<out>/.lock`` while they
run: an advisory lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) that the kernel
drops when the process exits, however it exits, so a killed run never leaves a stale lock behind
(only the file, which a clean exit removes). The file holds the owner's process id and host, for
the error message of the second run.
"""
import contextlib
import os
import socket
import time
from pathlib import Path

from .checkpoint import CheckpointError, _storage_message

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

_HELD: dict[Path, list] = {}  # folder -> [open file, depth]: the same process may enter twice


class RunLockedError(RuntimeError):
    """Another process is already running into this output folder."""


class RunLock:
    """``with RunLock(out):`` hold ``out/.lock``; a second process gets a :class:`RunLockedError`
    that names the first. Re-entrant within one process (the CLI holds it around ``fit``)."""

    def __init__(self, folder):
        self.folder = Path(folder).resolve()

    def __enter__(self) -> "RunLock":
        if self.folder in _HELD:
            _HELD[self.folder][1] += 1
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            f = open(self.folder / ".lock", "a+")
        except OSError as err:  # read-only, or --out names a file: say so before any training
            raise CheckpointError(_storage_message(err, self.folder / ".lock")) from err
        if not _try_lock(f):
            f.seek(0)
            owner = f.read().strip() or "an unknown process"
            f.close()
            raise RunLockedError(
                f"another run is writing to {self.folder} ({owner}); wait for it to finish, "
                f"stop it, or choose another output folder (--out / out=...).")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}, started "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
        f.flush()
        _HELD[self.folder] = [f, 1]
        return self

    def __exit__(self, *exc) -> None:
        entry = _HELD[self.folder]
        entry[1] -= 1
        if entry[1] == 0:
            del _HELD[self.folder]
            # remove the file while still holding the lock, so no one can be locking it now
            with contextlib.suppress(OSError):  # Windows cannot remove an open file: it stays
                (self.folder / ".lock").unlink(missing_ok=True)
            entry[0].close()  # closing the file releases the lock


def _try_lock(f) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False
