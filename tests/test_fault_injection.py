"""Fault injection: kill `minivision train` at random moments, fill the disk, and check that nothing
is lost: some complete checkpoint is on disk after every kill, every restart resumes, and the
final weights equal those of a run that was never interrupted, bit for bit (on the CPU).

Each run is a child of a forkserver that imported torch once, so a restart costs a fork, not the
2-3 s of a fresh interpreter: 20 kills fit in a few seconds each.
"""
import errno
import multiprocessing
import os
import random
import re
import signal
import sys
import time

import pytest
import torch
from torch.utils.data import DataLoader

from minivision.training import CheckpointError, fit, load_checkpoint
from minivision.training import checkpoint as checkpoint_module
from minivision.training.checkpoint import load_latest_checkpoint

from test_training import tiny_data, tiny_vit

RUN = ["train", "--train-samples", "96", "--test-samples", "16", "--batch-size", "8",
       "--epochs", "3", "--checkpoint-every", "1", "--no-progress"]  # 12 steps per epoch, 36 in all
KILLS = 20


def _child(argv, log):
    """The body of one run: `minivision train ...`, its output in ``log``."""
    sys.stdout = sys.stderr = open(log, "a", buffering=1)
    from minivision.cli import main

    sys.exit(main(argv))


@pytest.fixture(scope="module")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["minivision.cli", "minivision.training.cli",
                                "minivision.training.trainer", "minivision.data",
                                "minivision.models", "test_fault_injection"])
    return ctx


def _start(ctx, argv, log):
    process = ctx.Process(target=_child, args=(argv, str(log)))
    process.start()
    return process


def _wait_for_banner(process, log, timeout=60.0):
    """Seconds until the run printed its banner (it is about to train), or None if it ended."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if log.exists() and " parameters) on " in log.read_text():
            return time.monotonic() - start
        if process.exitcode is not None:
            return None
        time.sleep(0.005)
    raise TimeoutError(f"no banner after {timeout} s: {log.read_text() if log.exists() else ''}")


def _mtime(path):
    return path.stat().st_mtime_ns if path.exists() else 0


def _wait_for_save(process, path, after, timeout=60.0):
    """Until ``path`` is newer than ``after`` (the run saved a step), or the run ended."""
    start = time.monotonic()
    while _mtime(path) <= after and process.exitcode is None:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{path} not saved within {timeout} s")
        time.sleep(0.002)


def _weights(path):
    return load_checkpoint(path)["model"]


def _assert_bitwise_equal(reference, got, what):
    assert reference.keys() == got.keys()
    for name in reference:
        assert torch.equal(reference[name], got[name]), f"{name} differs ({what})"


def _killed_run(ctx, tmp_path, kill_signal, seed):
    """Start, kill at a random moment, restart with --resume, ... KILLS times; then finish."""
    out, logs = tmp_path / "killed", tmp_path / "logs"
    logs.mkdir()
    # an uninterrupted run first: its weights are the reference, its pace sets the delays
    reference_log, reference_out = tmp_path / "reference.log", tmp_path / "reference"
    reference = _start(ctx, [*RUN, "--out", str(reference_out)], reference_log)
    banner_at = _wait_for_banner(reference, reference_log)
    start = time.monotonic()
    _wait_for_save(reference, reference_out / "last.pt", 0)
    setup_time = time.monotonic() - start  # from the banner to the first saved step
    reference.join()
    assert reference.exitcode == 0, reference_log.read_text()
    step_time = min((time.monotonic() - start) / 36, 0.1)  # capped: a slow reference is no guide
    rng, resumed_steps = random.Random(seed), []
    for i in range(KILLS):
        has_checkpoint = (out / "last.pt").exists() or (out / "prev.pt").exists()
        argv = [*RUN, "--out", str(out), *(["--resume"] if has_checkpoint else [])]
        log = logs / f"{i}.log"
        saved_at = _mtime(out / "last.pt")
        process = _start(ctx, argv, log)
        moment = rng.random()
        if moment < 0.2:  # while it starts (imports, data, model)
            time.sleep(rng.uniform(0, banner_at))
        elif _wait_for_banner(process, log) is not None:
            if moment < 0.5:  # while it loads the checkpoint, sets up, takes its first step
                time.sleep(rng.uniform(0, setup_time))
            else:  # after a step it saved: in the next step or in the middle of its save
                _wait_for_save(process, out / "last.pt", saved_at)
                time.sleep(rng.uniform(0, 1.5 * step_time))
        assert process.exitcode is None, f"the run ended after only {i} kills: {log.read_text()}"
        os.kill(process.pid, kill_signal)
        process.join()
        text = log.read_text() if log.exists() else ""
        assert "error" not in text.lower(), f"restart {i} failed:\n{text}"
        if kill_signal == signal.SIGTERM and process.exitcode == 128 + signal.SIGTERM:
            assert "SIGTERM: stopped" in text
        # the rotation's promise: whenever a checkpoint was written, a complete one is on disk
        if (out / "last.pt").exists() or (out / "prev.pt").exists():
            state, _ = load_latest_checkpoint(out)
            resumed_steps.append(state["position"]["step"])
    final_log = logs / "final.log"
    process = _start(ctx, [*RUN, "--out", str(out), "--resume"], final_log)
    process.join()
    assert process.exitcode == 0, final_log.read_text()
    _assert_bitwise_equal(_weights(tmp_path / "reference" / "last.pt"), _weights(out / "last.pt"),
                          f"after {KILLS} kills with {signal.Signals(kill_signal).name}")
    assert not list(out.glob(".*.tmp")), "a stale temporary file was left behind"
    return resumed_steps


@pytest.mark.slow
def test_sigkill_at_20_random_moments_then_resume_is_bitwise_exact(forkserver, tmp_path):
    steps = _killed_run(forkserver, tmp_path, signal.SIGKILL, seed=1)
    print("steps on disk after each kill:", steps)
    assert steps == sorted(steps)  # never back to an older checkpoint
    assert len(set(steps)) >= 5  # the kills hit many different moments of training


@pytest.mark.slow
def test_sigterm_saves_the_last_step_and_resumes_bitwise_exact(forkserver, tmp_path):
    steps = _killed_run(forkserver, tmp_path, signal.SIGTERM, seed=2)
    print("steps on disk after each SIGTERM:", steps)
    assert steps == sorted(steps)
    assert len(set(steps)) >= 5


def test_sigterm_exit_code_and_the_step_it_saves(forkserver, tmp_path):
    """SIGTERM mid-epoch saves the step it reached, not only the last epoch end."""
    out, log = tmp_path / "run", tmp_path / "run.log"
    argv = ["train", "--train-samples", "240", "--test-samples", "16", "--batch-size", "8",
            "--augmentation", "none", "--out", str(out)]  # 30 steps per epoch; bars in the log
    process = _start(forkserver, argv, log)
    _wait_for_banner(process, log)
    seen = 0
    while seen < 3:  # the bar has shown 3 steps of epoch 2 (it updates every 0.1 s)
        counts = re.findall(r"epoch 2/\d+:[^\r\n]*?\| *(\d+)/30 \[", log.read_text())
        seen = int(counts[-1]) if counts else 0
        assert process.exitcode is None, log.read_text()
        time.sleep(0.005)
    process.terminate()  # SIGTERM
    process.join()
    assert process.exitcode == 128 + signal.SIGTERM, log.read_text()
    assert "SIGTERM: stopped; the last completed step is saved in" in log.read_text()
    position = load_checkpoint(out / "last.pt")["position"]
    assert position["epoch"] == 1 and position["batch"] >= seen  # where it was, mid-epoch 2
    assert position["step"] == 30 + position["batch"]


class FillingDisk:
    """Files opened through it share ``free`` bytes; a write beyond them fails with ENOSPC, as on
    a full disk (the bytes that fit are written, as a real disk does)."""

    def __init__(self, free: int, real_fdopen):
        self.free, self.real_fdopen = free, real_fdopen

    def fdopen(self, fd, *args, **kwargs):
        return _LimitedFile(self.real_fdopen(fd, *args, **kwargs), self)


class _LimitedFile:
    def __init__(self, f, disk):
        self.f, self.disk = f, disk

    def write(self, data):
        if len(data) > self.disk.free:
            self.f.write(bytes(data[:self.disk.free]))
            self.disk.free = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.disk.free -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch):
    loader = DataLoader(tiny_data(n=32), batch_size=8)
    fit(tiny_vit(), loader, epochs=1, max_steps=1, out=tmp_path / "size", progress=False)
    size = (tmp_path / "size" / "last.pt").stat().st_size
    disk = FillingDisk(free=int(2.5 * size), real_fdopen=os.fdopen)  # room for two checkpoints
    monkeypatch.setattr(checkpoint_module.os, "fdopen", disk.fdopen)
    out = tmp_path / "run"
    with pytest.raises(CheckpointError, match=r"disk is full.*previous checkpoint in .* is kept"):
        fit(tiny_vit(), loader, epochs=1, checkpoint_every=1, out=out, progress=False)
    monkeypatch.undo()
    assert load_checkpoint(out / "last.pt")["position"]["step"] == 2  # the second save
    assert load_checkpoint(out / "prev.pt")["position"]["step"] == 1
    assert not list(out.glob(".*.tmp"))  # the cut third file was removed


class Killed(BaseException):
    """Stands for a SIGKILL at one point of a save."""


@pytest.mark.parametrize("crash_at", range(5))
def test_a_crash_at_any_point_of_the_rotation_leaves_last_or_prev(tmp_path, monkeypatch, crash_at):
    """Crash before the n-th filesystem operation of a save (link, rename, fsync): last.pt is
    still there and whole (the old or the new one), and prev.pt holds an older step."""
    from minivision.training.checkpoint import save_checkpoint

    for step in (1, 2):
        save_checkpoint(tmp_path / "last.pt", {"step": step}, previous=tmp_path / "prev.pt")
    calls = []

    def crashing(real):
        def operation(*args, **kwargs):
            calls.append(real.__name__)
            if len(calls) > crash_at:
                raise Killed
            return real(*args, **kwargs)
        return operation

    for name in ("link", "replace", "fsync"):
        monkeypatch.setattr(checkpoint_module.os, name, crashing(getattr(os, name)))
    try:
        save_checkpoint(tmp_path / "last.pt", {"step": 3}, previous=tmp_path / "prev.pt")
    except Killed:
        pass
    monkeypatch.undo()
    last = load_checkpoint(tmp_path / "last.pt")["step"]
    prev = load_checkpoint(tmp_path / "prev.pt")["step"]
    assert last in (2, 3) and prev < last, (calls, last, prev)
