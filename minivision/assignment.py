"""``minivision assignment``: write the student version of a lesson, solutions cut out.

A lesson is also its own answer key. Its exercises mark the solutions with nbgrader's markers
(https://nbgrader.readthedocs.io, "Autograded answers"), so one notebook makes both versions:

    def patch_count(image_size, patch_size):
        ### BEGIN SOLUTION
        return (image_size // patch_size) ** 2
        ### END SOLUTION

becomes, in the student version,

    def patch_count(image_size, patch_size):
        # YOUR CODE HERE
        raise NotImplementedError()

with the indentation of the ``### BEGIN SOLUTION`` line kept. In a Markdown cell a solution
region becomes ``YOUR ANSWER HERE``. A ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``
region (checks the instructor keeps for grading) is removed. Cells that held a marker lose their
outputs, since those would give the answer away; every other cell keeps its outputs, so the
student version still shows the lesson's figures and results.

Usage::

    minivision assignment lessons/00_setup.ipynb [more.ipynb ...] --out build/student
"""
import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"

_PAIRS = {BEGIN_SOLUTION: END_SOLUTION, BEGIN_HIDDEN: END_HIDDEN}
_ENDS = {end: begin for begin, end in _PAIRS.items()}


@dataclass
class StudentReport:
    """What :func:`make_student` changed in one notebook."""

    solutions: int = 0  # solution regions replaced by a stub
    hidden_tests: int = 0  # hidden-test regions removed
    cleared_cells: int = 0  # cells whose outputs were cleared


def _marker(line: str) -> str | None:
    stripped = line.strip()
    return stripped if stripped in _PAIRS or stripped in _ENDS else None


def student_source(source: str, *, cell_type: str, cell_index: int = 0) -> tuple[str, int, int]:
    """Cut the solutions and hidden tests out of one cell's source.

    Args:
        source: the cell's text.
        cell_type: ``"code"`` (solutions become ``# YOUR CODE HERE`` / ``raise
            NotImplementedError()``) or ``"markdown"`` (they become ``YOUR ANSWER HERE``).
        cell_index: the cell's position in the notebook, only for error messages.

    Returns:
        ``(new_source, solutions, hidden_tests)``: the text and how many regions of each kind
        it had.

    Raises:
        ValueError: a marker without its partner, a region inside another region, or an END
            with no BEGIN; the message names the cell index and the line number (both from 0
            for cells, from 1 for lines, as an editor shows them).
    """
    out: list[str] = []
    open_marker: str | None = None  # the BEGIN line we are inside, if any
    open_line = 0
    solutions = hidden = 0
    for number, line in enumerate(source.splitlines(), start=1):
        marker = _marker(line)
        if marker in _PAIRS:
            if open_marker is not None:
                raise ValueError(
                    f"cell {cell_index}, line {number}: {marker!r} inside the {open_marker!r} "
                    f"region opened at line {open_line}; regions cannot nest: close it with "
                    f"{_PAIRS[open_marker]!r} first."
                )
            open_marker, open_line = marker, number
            if marker == BEGIN_SOLUTION:
                solutions += 1
                indent = line[: len(line) - len(line.lstrip())]
                stub = CODE_STUB if cell_type == "code" else (ANSWER_STUB,)
                out.extend(indent + text for text in stub)
            else:
                hidden += 1
        elif marker in _ENDS:
            if open_marker != _ENDS[marker]:
                found = "with no region open"
                if open_marker:
                    found = f"inside {open_marker!r} (line {open_line})"
                raise ValueError(
                    f"cell {cell_index}, line {number}: {marker!r} {found}; expected it to "
                    f"close a {_ENDS[marker]!r} line above it."
                )
            open_marker = None
        elif open_marker is None:
            out.append(line)
    if open_marker is not None:
        raise ValueError(
            f"cell {cell_index}, line {open_line}: {open_marker!r} is never closed; add "
            f"{_PAIRS[open_marker]!r} at the end of the region."
        )
    text = "\n".join(out)
    if source.endswith("\n") and out:
        text += "\n"
    return text, solutions, hidden


def make_student(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, StudentReport]:
    """The student version of a notebook (the input is not changed).

    Args:
        nb: a notebook read with ``nbformat.read(..., as_version=4)``.

    Returns:
        ``(student_nb, report)``.

    Raises:
        ValueError: unbalanced or nested markers (see :func:`student_source`).
    """
    student = copy.deepcopy(nb)
    report = StudentReport()
    for index, cell in enumerate(student.cells):
        if cell.cell_type not in ("code", "markdown"):
            continue
        source, solutions, hidden = student_source(
            cell.source, cell_type=cell.cell_type, cell_index=index
        )
        if not (solutions or hidden):
            continue
        cell.source = source
        report.solutions += solutions
        report.hidden_tests += hidden
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            report.cleared_cells += 1
    return student, report


EXERCISE_SETUP_TAG = "exercise-setup"


def _tagged_setup(cell) -> bool:
    return EXERCISE_SETUP_TAG in cell.get("metadata", {}).get("tags", [])


def _heading(cell) -> str:
    if cell.cell_type != "markdown":
        return ""
    first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
    return first.strip() if first.startswith("## ") else ""


def exercises_only(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The part of a lesson that the exercises need: its setup cells and its Exercises section.

    A lesson's setup (the Colab install cell, then imports, seed, device, settings) comes before
    its first ``## `` heading, and its exercises sit under ``## Exercises`` and depend on that
    setup only, plus any cheap definition from the lesson's body that carries the cell tag
    ``exercise-setup`` (a helper function the checks reuse, say). This notebook runs in seconds,
    so an instructor can grade with it and the tests can prove that the checks pass with the
    solutions and fail without them.

    Args:
        nb: a lesson, either version.

    Returns:
        A new notebook: the code cells before the first ``## `` heading, the code cells tagged
        ``exercise-setup``, then every cell from the ``## Exercises`` heading up to the next
        ``## `` heading, in the lesson's order.

    Raises:
        ValueError: the notebook has no ``## Exercises`` section.
    """
    cells, seen_heading, in_exercises = [], False, False
    for cell in nb.cells:
        heading = _heading(cell)
        if heading:
            seen_heading = True
            in_exercises = heading.lower().startswith("## exercises")
        setup = cell.cell_type == "code" and (not seen_heading or _tagged_setup(cell))
        if in_exercises or setup:
            cells.append(copy.deepcopy(cell))
    if not any(_heading(cell).lower().startswith("## exercises") for cell in cells):
        raise ValueError(
            "the notebook has no '## Exercises' section (a Markdown cell starting with it)"
        )
    out = copy.deepcopy(nb)
    out.cells = cells
    return out


def write_student(notebook: str | Path, out_dir: str | Path) -> tuple[Path, StudentReport]:
    """Read a lesson, write its student version into ``out_dir`` under the same file name.

    Args:
        notebook: the lesson (with solutions).
        out_dir: the folder for the student version; created if needed.

    Returns:
        ``(path_written, report)``.

    Raises:
        FileNotFoundError: ``notebook`` does not exist.
        ValueError: it is not a ``.ipynb`` file, the output would overwrite it, or its markers
            are unbalanced.
    """
    src = Path(notebook)
    if not src.is_file():
        raise FileNotFoundError(
            f"no notebook at {str(src)!r}: give the path of a lesson, e.g. lessons/00_setup.ipynb"
        )
    if src.suffix != ".ipynb":
        raise ValueError(f"{str(src)!r} is not a notebook: expected a file ending in .ipynb")
    dest = Path(out_dir) / src.name
    if dest.resolve() == src.resolve():
        raise ValueError(
            f"the student version would overwrite the lesson itself ({str(src)!r}): "
            "choose another --out folder"
        )
    nb = nbformat.read(src, as_version=4)
    try:
        student, report = make_student(nb)
    except ValueError as err:
        raise ValueError(f"{src}: {err}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, dest)
    return dest, report


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``minivision assignment``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="minivision assignment",
        description="Write the student version of lessons: solutions replaced by stubs, "
        "hidden tests removed.",
    )
    parser.add_argument(
        "notebooks", nargs="+", metavar="LESSON.ipynb", help="lessons with solution markers"
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the student versions"
    )
    args = parser.parse_args(argv)
    status = 0
    for notebook in args.notebooks:
        try:
            dest, report = write_student(notebook, args.out)
        except (OSError, ValueError) as err:
            print(f"minivision assignment: error: {err}", file=sys.stderr)
            status = 1
            continue
        print(
            f"{notebook} -> {dest}: {report.solutions} solution(s) cut, "
            f"{report.hidden_tests} hidden test region(s) removed"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
