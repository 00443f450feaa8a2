"""`minivision assignment`: the student version of a lesson.

The unit tests pin down the transformation on small cells (indentation, hidden tests, Markdown,
outputs, errors). The lesson tests run the real command on every lesson, then execute the
exercises of both versions: with the solutions every check passes, in the student version every
check raises, which proves that the solutions are really gone.
"""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from minivision import assignment
from minivision.assignment import exercises_only, make_student, student_source

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
    source = "print('hello')  # ### BEGIN SOLUTION in a comment mid-line is not a marker\n"
    assert student_source(source, cell_type="code") == (source, 0, 0)


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
        "def f(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"
    )
    solved.outputs = [new_output("stream", name="stdout", text="answer shown\n")]
    solved.execution_count = 3
    plain = new_code_cell("print('kept')")
    plain.outputs = [new_output("stream", name="stdout", text="kept\n")]
    plain.execution_count = 4
    return new_notebook(cells=[new_markdown_cell("# Title"), solved, plain])


def test_outputs_cleared_only_where_a_marker_was():
    nb = _notebook()
    student, report = make_student(nb)
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert student.cells[2].outputs == nb.cells[2].outputs and student.cells[2].execution_count == 4
    assert "return x * x" in nb.cells[1].source  # the input notebook is left alone
    assert (report.solutions, report.hidden_tests, report.cleared_cells) == (1, 0, 1)
    nbformat.validate(student)


def test_command_writes_the_student_version(tmp_path, capsys):
    lesson = tmp_path / "99_demo.ipynb"
    nbformat.write(_notebook(), lesson)
    out = tmp_path / "student"
    assert assignment.main([str(lesson), "--out", str(out)]) == 0
    student = nbformat.read(out / "99_demo.ipynb", as_version=4)
    assert "raise NotImplementedError()" in student.cells[1].source
    assert "1 solution(s) cut" in capsys.readouterr().out


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

    solved = _execute(exercises_only(solution), tmp_path, monkeypatch)
    checks = [cell for cell in solved.cells if cell.source.startswith(CHECK_PREFIX)]
    assert 3 <= len(checks) <= 5, f"{lesson.name}: expected 3-5 check cells, found {len(checks)}"
    failing = [cell.source.splitlines()[0] for cell in solved.cells if _errors(cell)]
    assert not failing, f"with the solutions these cells raised: {failing}"
    silent = [cell.source.splitlines()[0] for cell in checks
              if "correct" not in "".join(out.get("text", "") for out in cell.outputs)]
    assert not silent, f"these checks passed without printing 'correct': {silent}"

    unsolved = _execute(exercises_only(student), tmp_path, monkeypatch)
    checks = [cell for cell in unsolved.cells if cell.source.startswith(CHECK_PREFIX)]
    passing = [cell.source.splitlines()[0] for cell in checks if not _errors(cell)]
    assert not passing, f"in the student version these checks passed without an answer: {passing}"
