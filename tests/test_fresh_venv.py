"""A new user's environment: a fresh virtual environment that holds only minivision's core
dependencies and what one lesson's install cell installs, and that lesson run in it, top to bottom,
in quick mode.

The test builds a new venv (``python -m venv``), installs minivision from a copy of this checkout
(``pip install SRC``: the core dependencies, nothing else), runs every ``minivision`` command there
(``train`` and ``assignment``), then installs ``SRC[extras]`` with the extras that the lesson's
install cell names, plus ipykernel (the kernel that any Jupyter, Colab included, runs a notebook
in), and executes the lesson in that venv's kernel. The install cell finds minivision at its
version with the extras installed, so it installs nothing and prints so: no network is needed.

CI runs lesson 03, the lesson with the most imports (about 4 minutes on 2 cores, most of it
installing torch from local disk). Every lesson, one venv grown extra by extra (core, then
``transformers``, ``timm,transformers``, ``multimodal``), so that each lesson runs where exactly
its own install cell's packages are::

    MINIVISION_FRESH_LESSONS=all MINIVISION_QUICK=1 .venv/bin/pytest tests/test_fresh_venv.py -s
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minivision import lesson

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
CI_LESSON = "03"  # the most imports: timm, transformers, torchvision
WHICH = os.environ.get("MINIVISION_FRESH_LESSONS", CI_LESSON)


def _plan() -> list[tuple[tuple[str, ...], list[Path]]]:
    """(extras, lessons) stages: each stage's extras contain the previous stage's packages."""
    chosen = LESSONS if WHICH == "all" else [p for p in LESSONS if p.name[:2] in WHICH.split(",")]
    groups: dict[tuple[str, ...], list[Path]] = {}
    for path in chosen:
        groups.setdefault(lesson.lesson_extras(path.name), []).append(path)
    stages = sorted(groups.items(), key=lambda item: len(lesson.extra_requirements(item[0])))
    for (before, _), (after, _) in zip(stages, stages[1:]):
        assert set(lesson.extra_requirements(before)) <= set(lesson.extra_requirements(after)), (
            f"extras {before} are not inside {after}: these lessons need venvs of their own")
    return stages


def _run(args: list, *, cwd: Path, env: dict | None = None, timeout: int = 900) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _copy_checkout(target: Path) -> Path:
    """What `pip install .` reads, copied out of the checkout (pip then builds nothing here)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", *[p.name for p in ROOT.glob("LICENSE*")]):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "minivision", target / "minivision",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


def _clean_env() -> dict:
    """The environment of this process without the test venv on any path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MINIVISION_QUICK="1", MPLBACKEND="Agg", HF_HUB_OFFLINE="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _missing_modules(python: Path, modules: list[str], cwd: Path) -> list[str]:
    code = ("import importlib.util, sys; "
            "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
    return _run([python, "-c", code, *modules], cwd=cwd, env=_clean_env()).split()


def _execute(path: Path, python: Path, work: Path) -> list[dict]:
    """Run a lesson in the kernel of `python`; returns its code cells, executed."""
    import nbformat
    from nbclient import NotebookClient

    kernels = work / "jupyter" / "kernels" / "fresh"
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh venv", "language": "python", "env": _clean_env()}))
    run_dir = work / path.stem
    run_dir.mkdir()  # not the checkout: there `import minivision` would find the source tree
    nb = nbformat.read(path, as_version=4)
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(work / "jupyter")
    try:
        NotebookClient(nb, kernel_name="fresh", timeout=900,
                       resources={"metadata": {"path": str(run_dir)}}).execute()
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    return [cell for cell in nb.cells if cell.cell_type == "code"]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_lessons_run_in_a_fresh_venv_with_only_their_install_cells_packages(tmp_path):
    stages = _plan()
    assert stages, f"MINIVISION_FRESH_LESSONS={WHICH!r} names no lesson"
    src = _copy_checkout(tmp_path / "src")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    pip = [python, "-m", "pip", "install", "-q", "--no-compile"]  # compiling torch: 25 s more
    env = _clean_env()
    start = time.perf_counter()
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    _run([*pip, src], cwd=tmp_path, env=env)
    print(f"\ncore install: {time.perf_counter() - start:.0f} s")
    assert _missing_modules(python, ["timm", "transformers", "IPython"], tmp_path) == [
        "timm", "transformers", "IPython"], "the core install brought an optional package"

    # the base install runs every command
    minivision = venv / "bin" / "minivision"
    _run([minivision, "assignment", LESSONS[0], "--out", tmp_path / "student"], cwd=tmp_path, env=env)
    assert (tmp_path / "student" / LESSONS[0].name).exists()
    _run([minivision, "train", "--train-samples", "64", "--test-samples", "32", "--batch-size", "32",
          "--epochs", "1", "--no-progress", "--out", tmp_path / "run"], cwd=tmp_path, env=env)
    assert (tmp_path / "run" / "last.pt").exists()
    print(f"minivision assignment and train (core only): {time.perf_counter() - start:.0f} s")

    for extras, paths in stages:
        named = f"{src}[{','.join(extras)}]" if extras else str(src)
        _run([*pip, named, "ipykernel"], cwd=tmp_path, env=env)
        print(f"installed {named} and ipykernel: {time.perf_counter() - start:.0f} s")
        others = {"timm", "transformers", "open_clip"} - {
            "open_clip" if d == "open_clip_torch" else d for d in lesson.extra_requirements(extras)}
        assert _missing_modules(python, sorted(others), tmp_path) == sorted(others), (
            f"extras {extras} brought one of {sorted(others)}")
        for path in paths:
            begin = time.perf_counter()
            cells = _execute(path, python, tmp_path)
            printed = "".join(out.get("text", "") for out in cells[0].outputs)
            assert printed == lesson.install_message(path.name) + "\n", printed
            print(f"{path.name}: ran in a venv with minivision{list(extras) or ''} "
                  f"in {time.perf_counter() - begin:.0f} s")
    print(f"total: {time.perf_counter() - start:.0f} s")
