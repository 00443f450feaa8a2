"""tools/run_lessons.py (``make lessons-gpu``): lessons run one after another into one folder.

The script runs, as the lead runs it, on three tiny generated notebooks: one that succeeds, one
that raises and one that runs past its time limit (in small steps, so that only a limit on the
whole lesson, not nbclient's per-cell one, can stop it). The log must say which is which, every
notebook must be written with what it printed, a failure must not stop the lessons after it,
and a lesson whose turn comes after the budget is spent is skipped.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "run_lessons.py"
HARDWARE = "cpu: Test CPU (1 threads) | torch 0.0"


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a tiny lesson")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def _run(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _outputs(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return ["".join(o.get("text", "")) + o.get("ename", "")
            for cell in nb.cells for o in cell.get("outputs", [])]


@pytest.fixture(scope="module")
def lessons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lessons")
    return {
        "raises": _notebook(folder / "01_raises.ipynb", "print('before')",
                            "raise RuntimeError('broken on purpose')", "print('never')"),
        "ok": _notebook(folder / "02_ok.ipynb", f"print({HARDWARE!r})", "print(6 * 7)"),
        # 40 steps of 0.5 s: no one cell is slow, the lesson is
        "slow": _notebook(folder / "03_slow.ipynb", "print('started')",
                          *["import time; time.sleep(0.5)"] * 40, "print('finished')"),
    }


def test_each_lesson_gets_its_status_its_notebook_and_its_log(lessons, tmp_path):
    out = tmp_path / "out"
    done = _run(lessons["raises"], lessons["ok"], lessons["slow"], "--out", out,
                "--timeout", 6)
    assert done.returncode == 1, done.stdout + done.stderr  # not every lesson ran to the end
    log = json.loads((out / "log.json").read_text())["lessons"]
    status = {entry["lesson"]: entry for entry in log}
    assert [entry["lesson"] for entry in log] == ["01_raises", "02_ok", "03_slow"]

    assert status["01_raises"]["status"] == "error"
    assert status["01_raises"]["error"] == "cell 2: RuntimeError: broken on purpose"
    assert status["02_ok"]["status"] == "ok" and status["02_ok"]["error"] is None
    assert status["02_ok"]["hardware"] == HARDWARE
    assert status["03_slow"]["status"] == "timeout", status["03_slow"]
    assert 5 <= status["03_slow"]["wall_s"] < 15  # stopped at its 6 s, not after 20 s
    for entry in log:
        assert entry["start"] <= entry["end"] and entry["wall_s"] > 0

    # every notebook is written, with what ran before a failure
    assert _outputs(out / "01_raises.ipynb") == ["before\n", "RuntimeError"]
    assert _outputs(out / "02_ok.ipynb") == [HARDWARE + "\n", "42\n"]
    slow = _outputs(out / "03_slow.ipynb")
    assert slow[0] == "started\n" and "finished\n" not in slow
    text = (out / "02_ok.ipynb").read_text()
    assert text.endswith("}\n") and text.startswith('{\n "cells": [\n  {\n')  # indent 1
    source = nbformat.read(lessons["ok"], as_version=4)
    executed = nbformat.read(out / "02_ok.ipynb", as_version=4)
    assert [c.id for c in executed.cells] == [c.id for c in source.cells]

    lines = (out / "log.txt").read_text().splitlines()
    assert "01_raises" in lines[1] and "error" in lines[1]
    assert "RuntimeError: broken on purpose" in lines[2]
    assert lines[-1].startswith("1 of 3 lessons ran to the end")


def test_lessons_after_the_budget_are_skipped(lessons, tmp_path):
    out = tmp_path / "out"
    done = _run(lessons["slow"], lessons["ok"], "--out", out, "--timeout", 60, "--budget", 4)
    assert done.returncode == 1
    log = json.loads((out / "log.json").read_text())["lessons"]
    assert [entry["status"] for entry in log] == ["timeout", "skipped"], log
    assert log[0]["wall_s"] < 12  # the budget, not the 60 s per lesson, stopped it
    assert "budget of 4 s was spent" in log[1]["error"]
    assert not (out / "02_ok.ipynb").exists()


def test_all_lessons_ok_is_exit_status_0_and_a_bad_name_is_an_error(lessons, tmp_path):
    done = _run(lessons["ok"], "--out", tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run("99", "--out", tmp_path / "out")
    assert done.returncode == 2 and "no lesson 99" in done.stderr
