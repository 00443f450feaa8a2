"""Every lesson's student version really lacks the solutions: run top to bottom in quick mode,
each exercise check fails there, while in the lesson itself (the solution version) each passes.

Cells outside the exercises run normally in both, so a check can only fail because the solution
was cut out, not because the lesson broke.
"""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from minivision.assignment import make_student

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
CHECK = "# Check: exercise"


def run_quick(nb, folder: Path, monkeypatch):
    """Execute ``nb`` in quick mode with a fresh kernel; errors are kept as outputs, not raised."""
    monkeypatch.setenv("MINIVISION_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return nb


def check_cells(nb) -> dict[str, list]:
    """{'# Check: exercise N': outputs} for every check cell."""
    return {cell.source.splitlines()[0]: cell.outputs for cell in nb.cells
            if cell.cell_type == "code" and cell.source.startswith(CHECK)}


def errors(outputs) -> list[str]:
    return [f"{out.ename}: {out.evalue}" for out in outputs if out.output_type == "error"]


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_checks_fail_in_the_student_version_and_pass_in_the_solution(path, tmp_path, monkeypatch):
    lesson = nbformat.read(path, as_version=4)
    student, report = make_student(lesson)
    assert report.solutions >= 3, f"{path.name}: fewer than three exercises with a solution"
    solved = check_cells(run_quick(lesson, tmp_path, monkeypatch))
    unsolved = check_cells(run_quick(student, tmp_path, monkeypatch))
    assert solved and set(solved) == set(unsolved), (sorted(solved), sorted(unsolved))
    for name, outputs in solved.items():
        assert not errors(outputs), f"{path.name}, {name}: fails with the solution: {errors(outputs)}"
        text = "".join(out.get("text", "") for out in outputs)
        assert "correct" in text, f"{path.name}, {name}: printed no 'correct': {text!r}"
    for name, outputs in unsolved.items():
        assert errors(outputs), f"{path.name}, {name}: passes in the student version"
