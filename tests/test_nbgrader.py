"""The lessons under the real nbgrader (https://nbgrader.readthedocs.io), as an instructor uses it.

`minivision assignment --course` lays the lessons out as an nbgrader course; these tests run
nbgrader's own commands on it:

- ``generate_assignment`` accepts every lesson, whole, and its release holds no solution and no
  hidden test, and is, cell for cell (sources, metadata, outputs), the student version that
  ``minivision assignment`` writes;
- ``autograde`` of a submission with one exercise answered right, one wrong, one not answered and
  one that passes the visible checks but not the hidden ones gives exactly the points of the
  right one: the hidden tests are back when grading;
- ``validate`` fails a student version whose exercises are unanswered, and passes one whose
  answers are the solutions.

To stay cheap, nothing runs a training: ``generate_assignment`` executes no cell, and the
commands that run a notebook get the exercise section of lesson 00 only (``--exercises-only``).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from minivision import assignment
from minivision.assignment import exercises_only, write_course, write_student

nbgrader_api = pytest.importorskip("nbgrader.api")

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
needs_lessons = pytest.mark.skipif(not LESSONS, reason="no lessons/NN_*.ipynb yet")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, MINIVISION_QUICK="1", MPLBACKEND="Agg")
    # nbgrader runs `alembic` (its database migrations) from PATH: the venv's bin folder
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Every lesson, whole, released by nbgrader (no cell runs: a few seconds)."""
    root = tmp_path_factory.mktemp("course")
    write_course(LESSONS, root, name="lessons")
    nbgrader(root, "generate_assignment", "lessons", "--force")
    return root


@needs_lessons
def test_generate_assignment_releases_every_lesson_without_answers(course):
    for lesson in LESSONS:
        release = nbformat.read(course / "release" / "lessons" / lesson.name, as_version=4)
        secret = assignment.answer_lines(nbformat.read(lesson, as_version=4))
        assert len(secret) >= 3, lesson.name
        text = "\n".join(cell.source for cell in release.cells)
        assert not [m for m in MARKERS if m in text], f"{lesson.name}: a marker was released"
        released = {line.strip() for line in text.splitlines()}
        leaked = sorted(secret & released)
        assert not leaked, f"{lesson.name}: answer lines in the release: {leaked[:3]}"


@needs_lessons
def test_release_is_the_student_version(course, tmp_path):
    for lesson in LESSONS:
        ours, _ = write_student(lesson, tmp_path)
        mine = nbformat.read(ours, as_version=4)
        theirs = nbformat.read(course / "release" / "lessons" / lesson.name, as_version=4)
        assert len(mine.cells) == len(theirs.cells)
        for index, (a, b) in enumerate(zip(mine.cells, theirs.cells)):
            where = f"{lesson.name}, cell {index}"
            assert a.source == b.source, where
            assert a.metadata == b.metadata, where  # nbgrader metadata, locks, checksums
            assert a.get("outputs") == b.get("outputs"), where


def _submission(course: Path) -> Path:
    """Lesson 00's release, answered by a student: 1 right, 2 wrong, 3 blank, 4 half right, 5
    right (its number checked against the run the grader measures) with its written part."""
    key = {cell.metadata.nbgrader["grade_id"]: cell.source
           for cell in nbformat.read(course / "source" / "lessons" / "00_setup.ipynb",
                                     as_version=4).cells if "nbgrader" in cell.metadata}
    nb = nbformat.read(course / "release" / "lessons" / "00_setup.ipynb", as_version=4)
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}
    cells["ex1-answer"].source = key["ex1-answer"]
    cells["ex2-answer"].source = (
        "def class_counts(dataset) -> list[int]:\n"
        "    return [len(dataset.targets) // len(dataset.classes)] * len(dataset.classes)\n"
    )
    # right for every gradient but 1.0, which only the hidden tests try
    cells["ex4-answer"].source = key["ex4-answer"].replace(
        "    scale = 1.0\n", "    scale = 2.0 if grad == 1.0 else 1.0\n")
    assert cells["ex4-answer"].source != key["ex4-answer"]
    cells["ex5-answer"].source = key["ex5-answer"]
    cells["ex5-written"].source = "A GPU (access); larger patches (less detail).\n"
    cells["ex4-check"].source += "\nassert True  # a student's edit of a locked cell\n"
    path = course / "submitted" / "student1" / "lessons" / "00_setup.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@needs_lessons
def test_autograde_gives_the_points_of_the_right_answers_only(tmp_path):
    course = tmp_path / "course"  # lesson 00's exercises alone: grading runs them in seconds
    write_course([ROOT / "lessons" / "00_setup.ipynb"], course, name="lessons", exercises=True)
    nbgrader(course, "generate_assignment", "lessons", "--force")
    submitted = _submission(course)
    assert "HIDDEN" not in submitted.read_text() and "grad == 1.0" in submitted.read_text()
    nbgrader(course, "autograde", "lessons", "--force")

    graded = nbformat.read(course / "autograded" / "student1" / "lessons" / "00_setup.ipynb",
                           as_version=4)
    check4 = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                  == "ex4-check")
    assert "smallest_safe_scale(1.0) == 1.0" in check4.source  # the hidden test is back
    assert "a student's edit" not in check4.source  # and the locked cell restored
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook("00_setup", "lessons", "student1")
        auto = {grade.name: grade.auto_score for grade in notebook.grades
                if grade.cell.cell_type == "code"}
        points = {grade.name: grade.max_score for grade in notebook.grades}
        by_hand = [grade.name for grade in notebook.grades if grade.needs_manual_grade]
        total = notebook.score
    assert auto == {"ex1-check": points["ex1-check"], "ex2-check": 0, "ex3-check": 0,
                    "ex4-check": 0, "ex5-check": points["ex5-check"]}, auto
    assert total == points["ex1-check"] + points["ex5-check"] > 0
    assert by_hand == ["ex5-written"]  # the written answer waits for the instructor


@needs_lessons
def test_validate_fails_unanswered_exercises_and_passes_answered_ones(tmp_path):
    lesson = ROOT / "lessons" / "00_setup.ipynb"
    student, report = write_student(lesson, tmp_path / "student", exercises=True)
    done = nbgrader(tmp_path, "validate", str(student), check=False)
    output = done.stdout + done.stderr
    assert "Success" not in output, output[-2000:]
    failed = re.findall(r"exercise (\d) is not answered yet", output)
    assert sorted(set(failed)) == ["1", "2", "3", "4", "5"], output[-2000:]

    answered = nbformat.read(student, as_version=4)
    key = {cell.metadata.nbgrader["grade_id"]: cell.source
           for cell in exercises_only(nbformat.read(lesson, as_version=4)).cells
           if "nbgrader" in cell.metadata}
    for cell in answered.cells:
        if assignment.is_solution(cell):
            cell.source = key[cell.metadata.nbgrader["grade_id"]]
    nbformat.write(answered, student)
    done = nbgrader(tmp_path, "validate", str(student), check=False)
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-2000:]
    shutil.rmtree(tmp_path / "student")
