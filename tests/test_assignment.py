"""`minivision assignment`: the student version of a lesson.

The unit tests pin down the transformation on small cells (indentation, hidden tests, Markdown,
outputs, errors). The lesson tests run the real command on every lesson, then execute the
exercises of both versions: with the solutions every check passes, in the student version every
check raises, which proves that the solutions are really gone.
"""
import copy
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from minivision import assignment, lesson
from minivision.assignment import (
    cell_metadata,
    check_exercise,
    exercises_only,
    make_student,
    student_source,
)

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
CHECK_PREFIX = "# Check: exercise"


# ---------------------------------------------------------------------------- one cell at a time


def test_solution_becomes_a_stub_with_the_markers_indentation():
    source = (
        "def patch_count(image_size, patch_size):\n"
        '    """Docstring stays."""\n'
        "    ### BEGIN SOLUTION\n"
        "    n = image_size // patch_size\n"
        "    return n * n\n"
        "    ### END SOLUTION\n"
    )
    new, solutions, hidden = student_source(source, cell_type="code")
    assert new == (
        "def patch_count(image_size, patch_size):\n"
        '    """Docstring stays."""\n'
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n"
    )
    assert (solutions, hidden) == (1, 0)
    namespace = {}
    exec(new, namespace)  # the stub is valid Python that raises when called
    with pytest.raises(NotImplementedError):
        namespace["patch_count"](32, 4)


def test_top_level_solution_and_two_regions_in_one_cell():
    source = (
        "x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n"
        "if x:\n  ### BEGIN SOLUTION\n  z = 3\n  ### END SOLUTION"
    )
    new, solutions, _ = student_source(source, cell_type="code")
    assert new == (
        "x = 1\n# YOUR CODE HERE\nraise NotImplementedError()\n"
        "if x:\n  # YOUR CODE HERE\n  raise NotImplementedError()"
    )
    assert solutions == 2


def test_hidden_tests_are_removed_and_visible_checks_kept():
    source = (
        "# Check: exercise 1\n"
        "assert f(2) == 4\n"
        "### BEGIN HIDDEN TESTS\n"
        "assert f(3) == 9\n"
        "### END HIDDEN TESTS\n"
        "print('correct')\n"
    )
    new, solutions, hidden = student_source(source, cell_type="code")
    assert new == "# Check: exercise 1\nassert f(2) == 4\nprint('correct')\n"
    assert (solutions, hidden) == (0, 1)


def test_markdown_answer_becomes_your_answer_here():
    source = (
        "Why does fp16 need a grad scaler?\n\n"
        "### BEGIN SOLUTION\nIts range is small.\n### END SOLUTION"
    )
    new, solutions, _ = student_source(source, cell_type="markdown")
    assert new == "Why does fp16 need a grad scaler?\n\nYOUR ANSWER HERE"
    assert solutions == 1


def test_cell_without_markers_is_unchanged():
    source = "print('hello')  # a cell without markers\n"
    assert student_source(source, cell_type="code") == (source, 0, 0)


def test_marker_words_inside_a_line_are_refused_as_nbgrader_would_misread_them():
    # nbgrader takes any line that contains "BEGIN SOLUTION" for a marker
    with pytest.raises(ValueError, match="cell 2, line 1: 'BEGIN SOLUTION' in the middle"):
        student_source("x = 1  # ### BEGIN SOLUTION\n", cell_type="code", cell_index=2)


@pytest.mark.parametrize(
    "source, where, words",
    [
        ("a = 1\n### BEGIN SOLUTION\nb = 2\n", "cell 4, line 2", "never closed"),
        ("a = 1\nb = 2\n### END SOLUTION\n", "cell 4, line 3", "no region open"),
        ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n", "cell 4, line 2", "cannot nest"),
        ("### BEGIN SOLUTION\nx\n### END HIDDEN TESTS\n", "cell 4, line 3",
         "inside '### BEGIN SOLUTION'"),
    ],
)
def test_unbalanced_markers_name_the_cell_and_the_line(source, where, words):
    with pytest.raises(ValueError) as err:
        student_source(source, cell_type="code", cell_index=4)
    assert where in str(err.value) and words in str(err.value)


def _notebook():
    solved = new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
        metadata={"nbgrader": cell_metadata("ex1-answer", solution=True)},
    )
    solved.outputs = [new_output("stream", name="stdout", text="answer shown\n")]
    solved.execution_count = 3
    check = new_code_cell(
        "# Check: exercise 1\nwith check_exercise(1):\n    assert f(2) == 4\n"
        "    ### BEGIN HIDDEN TESTS\n    assert f(3) == 9\n    ### END HIDDEN TESTS",
        metadata={"nbgrader": cell_metadata("ex1-check", grade=True, points=2)},
    )
    check.outputs = [new_output("stream", name="stdout", text="exercise 1: correct\n")]
    check.execution_count = 4
    uses_answer = new_code_cell("print(f(5))")  # no marker, no metadata: a later measurement
    uses_answer.outputs = [new_output("stream", name="stdout", text="25\n")]
    uses_answer.execution_count = 5
    plain = new_code_cell("print('kept')")
    plain.outputs = [new_output("stream", name="stdout", text="kept\n")]
    plain.execution_count = 2
    return new_notebook(cells=[
        new_markdown_cell(f"# Title\n\n{lesson.colab_badge('99_demo.ipynb')}"),
        new_code_cell("from minivision.assignment import check_exercise"),
        new_markdown_cell("## 1. Body"), plain,
        new_markdown_cell("## Exercises\n\n**Exercise 1**"), solved, check, uses_answer,
    ])


def test_outputs_cleared_in_the_exercises_and_kept_in_the_body():
    nb = _notebook()
    student, report = make_student(nb)
    solved, check = student.cells[5], student.cells[6]
    assert solved.outputs == [] and solved.execution_count is None
    assert check.outputs == [] and check.execution_count is None  # "correct" would be stale
    assert student.cells[7].outputs == [] and student.cells[7].execution_count is None
    assert student.cells[3].outputs == nb.cells[3].outputs and student.cells[3].execution_count == 2
    assert "return x * x" in nb.cells[5].source  # the input notebook is left alone
    assert "f(3)" not in check.source and "f(2)" in check.source
    assert (report.solutions, report.hidden_tests, report.cleared_cells) == (1, 1, 3)
    assert (report.graded_cells, report.points) == (1, 2.0)
    nbformat.validate(student)


def test_the_student_badge_opens_the_published_student_notebook():
    student, _ = make_student(_notebook())
    assert lesson.student_colab_url("99_demo.ipynb") in student.cells[0].source
    assert lesson.colab_url("99_demo.ipynb") not in student.cells[0].source
    assert lesson.student_colab_url("lessons/99_demo.ipynb").endswith(
        "minivision/blob/gh-pages/student/99_demo.ipynb")


def test_student_cells_carry_nbgrader_release_metadata():
    student, _ = make_student(_notebook())
    solved, check = student.cells[5], student.cells[6]
    assert solved.metadata.nbgrader["solution"] and solved.metadata["deletable"] is False
    assert "editable" not in solved.metadata  # the student writes in it
    assert check.metadata["editable"] is False and check.metadata.nbgrader["locked"]
    for cell in (solved, check):  # the checksum of the cell as released (hidden tests gone)
        assert cell.metadata.nbgrader["checksum"] == assignment.nbgrader_checksum(cell)
        assert cell.metadata.nbgrader["cell_type"] == "code"


def test_a_whole_solution_cell_becomes_the_stub():
    written = new_markdown_cell(
        "A model answer, no markers.",
        metadata={"nbgrader": cell_metadata("ex1-written", solution=True, grade=True, points=1)},
    )
    code = new_code_cell("x = 42", metadata={"nbgrader": cell_metadata("ex2", solution=True)})
    student, report = make_student(new_notebook(cells=[written, code]))
    assert student.cells[0].source == "YOUR ANSWER HERE"
    assert student.cells[1].source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert report.solutions == 2


@pytest.mark.parametrize("cell, words", [
    (new_code_cell("def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION"),
     "cell 0 has a solution region but no valid nbgrader grade_id"),
    (new_code_cell("def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION",
                   metadata={"nbgrader": cell_metadata("ex1-check", grade=True, points=1)}),
     "not an nbgrader solution cell"),
    (new_code_cell("### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS",
                   metadata={"nbgrader": cell_metadata("ex1-answer", solution=True)}),
     "not an nbgrader grade cell"),
])
def test_markers_and_metadata_must_agree(cell, words):
    with pytest.raises(ValueError, match=words):
        make_student(new_notebook(cells=[cell]))


def test_grade_ids_must_be_unique():
    meta = {"nbgrader": cell_metadata("ex1-answer", solution=True)}
    nb = new_notebook(cells=[new_code_cell("x = 1", metadata=meta),
                             new_code_cell("y = 2", metadata=copy.deepcopy(meta))])
    with pytest.raises(ValueError, match="cells 0 and 1 share the nbgrader grade_id 'ex1-answer'"):
        make_student(nb)


def test_annotate_follows_the_lesson_conventions():
    nb = _notebook()
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    written = new_markdown_cell("**Your answer**\n\n### BEGIN SOLUTION\nWhy.\n### END SOLUTION")
    nb.cells.append(written)
    body_solution = new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    nb.cells.insert(3, body_solution)  # outside the Exercises section: not an exercise
    assert assignment.annotate(nb, points=2) == ["ex1-answer", "ex1-check", "ex1-written"]
    assert nb.cells[7].metadata.nbgrader == cell_metadata("ex1-check", grade=True, points=2)
    assert nb.cells[9].metadata.nbgrader["solution"] and nb.cells[9].metadata.nbgrader["grade"]
    assert "nbgrader" not in nb.cells[8].metadata  # a plain cell of the section
    assert "nbgrader" not in nb.cells[3].metadata


def test_check_exercise_names_the_exercise(capsys):
    with check_exercise(3):
        assert 1 + 1 == 2
    assert capsys.readouterr().out == "exercise 3: correct\n"
    with pytest.raises(NotImplementedError, match="exercise 3 is not answered yet"):
        with check_exercise(3):
            raise NotImplementedError()
    with pytest.raises(AssertionError, match="^exercise 3: shape"):
        with check_exercise(3):
            assert False, "shape (2, 3)"
    with pytest.raises(AssertionError, match="^exercise 3: a check failed"):
        with check_exercise(3):
            raise AssertionError()  # a bare assert (pytest would rewrite one here)
    with pytest.raises(ZeroDivisionError) as err:
        with check_exercise(3):
            1 / 0
    if sys.version_info >= (3, 11):  # exception notes
        assert "checking exercise 3" in "".join(err.value.__notes__)
    assert capsys.readouterr().out == ""


def test_command_writes_the_student_version(tmp_path, capsys):
    lesson = tmp_path / "99_demo.ipynb"
    nbformat.write(_notebook(), lesson)
    out = tmp_path / "student"
    assert assignment.main([str(lesson), "--out", str(out)]) == 0
    student = nbformat.read(out / "99_demo.ipynb", as_version=4)
    assert "raise NotImplementedError()" in student.cells[5].source
    assert "1 solution(s) cut" in capsys.readouterr().out
    assert assignment.main([str(lesson), "--out", str(out), "--exercises-only"]) == 0
    short = nbformat.read(out / "99_demo.ipynb", as_version=4)
    assert [cell.source for cell in short.cells[1:]] == [cell.source for cell in student.cells[4:]]


def test_command_lays_out_an_nbgrader_course(tmp_path, capsys):
    lesson = tmp_path / "99_demo.ipynb"
    nbformat.write(_notebook(), lesson)
    course = tmp_path / "course"
    assert assignment.main([str(lesson), "--course", str(course), "--name", "week1"]) == 0
    assert "nbgrader generate_assignment week1" in capsys.readouterr().out
    source = nbformat.read(course / "source" / "week1" / "99_demo.ipynb", as_version=4)
    assert "return x * x" in source.cells[5].source  # the answer key, for nbgrader to cut
    assert source.cells[6].outputs == [] and source.cells[3].outputs  # exercise outputs cleared
    assert "ClearOutput.enabled = False" in (course / "nbgrader_config.py").read_text()
    assert assignment.main([str(lesson), "--course", str(course), "--name", "week 1"]) == 1
    assert "letters, digits" in capsys.readouterr().err


def test_command_reports_a_missing_file_and_refuses_to_overwrite(tmp_path, capsys):
    assert assignment.main([str(tmp_path / "nope.ipynb"), "--out", str(tmp_path)]) == 1
    assert "no notebook at" in capsys.readouterr().err
    lesson = tmp_path / "99_demo.ipynb"
    nbformat.write(_notebook(), lesson)
    assert assignment.main([str(lesson), "--out", str(tmp_path)]) == 1
    assert "overwrite" in capsys.readouterr().err


def test_command_names_the_notebook_with_unbalanced_markers(tmp_path, capsys):
    nb = new_notebook(cells=[new_markdown_cell("# T"), new_code_cell("### BEGIN SOLUTION\nx = 1")])
    lesson = tmp_path / "99_bad.ipynb"
    nbformat.write(nb, lesson)
    assert assignment.main([str(lesson), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "99_bad.ipynb" in err and "cell 1, line 1" in err
    assert not (tmp_path / "out" / "99_bad.ipynb").exists()


def test_exercises_only_keeps_setup_and_the_exercises_section():
    nb = new_notebook(cells=[
        new_markdown_cell("# 99 · Title"), new_code_cell("import sys"), new_code_cell("SEED = 0"),
        new_markdown_cell("## Learning goals"), new_code_cell("train()"),
        new_markdown_cell("## Exercises\n\n**Exercise 1**"), new_code_cell("# Check: exercise 1"),
        new_markdown_cell("## Further reading"), new_code_cell("more()"),
    ])
    sources = [cell.source for cell in exercises_only(nb).cells]
    assert sources == [
        "import sys", "SEED = 0", "## Exercises\n\n**Exercise 1**", "# Check: exercise 1"
    ]
    with pytest.raises(ValueError, match="Exercises"):
        exercises_only(new_notebook(cells=[new_code_cell("x = 1")]))


def test_exercises_only_keeps_body_cells_tagged_exercise_setup():
    helper = new_code_cell("def helper(): ...", metadata={"tags": ["exercise-setup"]})
    other_tag = new_code_cell("train()", metadata={"tags": ["slow"]})
    nb = new_notebook(cells=[
        new_code_cell("SEED = 0"), new_markdown_cell("## 1. Body"), other_tag, helper,
        new_markdown_cell("## Exercises"), new_code_cell("# Check: exercise 1"),
    ])
    sources = [cell.source for cell in exercises_only(nb).cells]
    assert sources == ["SEED = 0", "def helper(): ...", "## Exercises", "# Check: exercise 1"]


# ------------------------------------------------------------------------------- real lessons


def _execute(nb, tmp_path, monkeypatch):
    from nbconvert.preprocessors import ExecutePreprocessor

    monkeypatch.setenv("MINIVISION_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ExecutePreprocessor(timeout=300, allow_errors=True, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": str(tmp_path)}}
    )
    return nb


def _errors(cell):
    return [out for out in cell.get("outputs", []) if out.output_type == "error"]


@pytest.mark.skipif(not LESSONS, reason="no lessons/NN_*.ipynb yet")
@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_student_checks_fail_and_solution_checks_pass(lesson, tmp_path, monkeypatch):
    out = tmp_path / "student"
    done = subprocess.run(
        [sys.executable, "-m", "minivision.cli", "assignment", str(lesson), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    solution = nbformat.read(lesson, as_version=4)
    student = nbformat.read(out / lesson.name, as_version=4)
    for marker in (assignment.BEGIN_SOLUTION, assignment.END_SOLUTION, assignment.BEGIN_HIDDEN):
        assert not any(marker in cell.source for cell in student.cells)

    _, report = make_student(solution)
    assert report.solutions >= 3, f"{lesson.name}: fewer than three exercises with a solution"
    autograded = [cell for cell in solution.cells
                  if assignment.is_grade(cell) and not assignment.is_solution(cell)]
    assert len(autograded) >= 3, f"{lesson.name}: fewer than three autograded exercises"
    assert all(cell.metadata.nbgrader["points"] > 0 for cell in autograded)
    assert all(cell.source.startswith(CHECK_PREFIX) for cell in autograded)
    stale = [cell.source.splitlines()[0] for cell in student.cells
             if any("correct" in out.get("text", "") for out in cell.get("outputs", []))]
    assert not stale, f"the student version still shows the outputs of {stale}"

    solved = _execute(exercises_only(solution), tmp_path, monkeypatch)
    checks = [cell for cell in solved.cells if cell.source.startswith(CHECK_PREFIX)]
    assert 3 <= len(checks) <= 5, f"{lesson.name}: expected 3-5 check cells, found {len(checks)}"
    failing = [cell.source.splitlines()[0] for cell in solved.cells if _errors(cell)]
    assert not failing, f"with the solutions these cells raised: {failing}"
    silent = [cell.source.splitlines()[0] for cell in checks
              if "correct" not in "".join(out.get("text", "") for out in cell.outputs)]
    assert not silent, f"these checks passed without printing 'correct': {silent}"

    # the student version, run top to bottom: only the checks of the unanswered exercises fail,
    # each saying which exercise is not answered yet
    unsolved = _execute(exercises_only(student), tmp_path, monkeypatch)
    for cell in unsolved.cells:
        first = cell.source.splitlines()[0] if cell.source else ""
        errors = _errors(cell)
        if not first.startswith(CHECK_PREFIX):
            assert not errors, f"{first!r} raised in the student version: {errors}"
            continue
        number = re.match(r"# Check: exercise (\d+)", first).group(1)
        assert errors, f"in the student version {first!r} passed without an answer"
        message = f"{errors[0].ename}: {errors[0].evalue}"
        assert f"exercise {number} is not answered yet" in message, message
