"""``minivision assignment``: the student version of a lesson, and an nbgrader course of them.

A lesson is also its own answer key. Its exercises are [nbgrader](https://nbgrader.readthedocs.io)
cells: each solution cell carries ``{"nbgrader": {"solution": true, "grade_id": ...}}`` in its
metadata and marks its answer with nbgrader's markers, so one notebook makes both versions:

    def patch_count(image_size, patch_size):
        ### BEGIN SOLUTION
        return (image_size // patch_size) ** 2
        ### END SOLUTION

becomes, in the student version,

    def patch_count(image_size, patch_size):
        # YOUR CODE HERE
        raise NotImplementedError()

with the indentation of the ``### BEGIN SOLUTION`` line kept (a solution cell without markers
becomes the stub as a whole, as nbgrader does it). In a Markdown cell a solution becomes ``YOUR
ANSWER HERE``. A ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` region (checks the
instructor keeps for grading) is removed; it may only sit in a check cell, an nbgrader grade cell
(``"grade": true, "locked": true, "points": ...``). Every code cell of the Exercises section and
every nbgrader cell loses its outputs, since they depend on the answers; every other cell keeps
its outputs, so the student version still shows the lesson's figures and results. Its "Open in
Colab" badge opens the student version where the site publishes it
(:func:`minivision.lesson.student_colab_url`), not the lesson. The student
version carries the cell metadata, locks and checksums that ``nbgrader generate_assignment``
would give it, so ``nbgrader validate`` and ``nbgrader autograde`` accept it.

A check cell wraps its asserts in :func:`check_exercise`, which prints ``exercise N: correct`` or
raises an error that names the exercise (``exercise 2 is not answered yet`` for a stub).

Usage::

    minivision assignment lessons/00_setup.ipynb [more.ipynb ...] --out build/student
    minivision assignment lessons/[0-9]*.ipynb --course course --name lessons  # nbgrader layout
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"
CHECK_PREFIX = "# Check: exercise"
SCHEMA_VERSION = 3  # nbgrader's cell metadata schema

_PAIRS = {BEGIN_SOLUTION: END_SOLUTION, BEGIN_HIDDEN: END_HIDDEN}
_ENDS = {end: begin for begin, end in _PAIRS.items()}
# nbgrader takes any line that contains one of these words for a marker
_MARKER_WORDS = tuple(marker.removeprefix("### ") for marker in (*_PAIRS, *_ENDS))
_CHECK = re.compile(r"^# Check: exercise (\d+)\b")
_TASK = re.compile(r"\*\*Exercise (\d+)\*\*")


# ------------------------------------------------------------------------ what a check cell uses


@contextlib.contextmanager
def check_exercise(number: int) -> Iterator[None]:
    """Run the asserts of exercise ``number``'s check; print ``exercise N: correct`` if they pass.

    A check cell reads::

        # Check: exercise 2
        with check_exercise(2):
            assert patch_count(32, 4) == 64

    Args:
        number: the exercise's number, as in its task (``**Exercise 2**``).

    Raises:
        NotImplementedError: the answer is still the stub: "exercise 2 is not answered yet".
        AssertionError: a check failed; its message starts with "exercise 2: ".
        Exception: anything else the answer raised, with a note naming the exercise.
    """
    try:
        yield
    except NotImplementedError:
        raise NotImplementedError(
            f"exercise {number} is not answered yet: replace `raise NotImplementedError()` in "
            f"its solution cell with your answer, run that cell, then this check again"
        ) from None
    except AssertionError as err:
        detail = str(err) or "a check failed (see the assert above)"
        err.args = (f"exercise {number}: {detail}",)
        raise
    except Exception as err:
        if hasattr(err, "add_note"):  # Python >= 3.11
            err.add_note(f"(raised while checking exercise {number})")
        raise
    print(f"exercise {number}: correct")


# ---------------------------------------------------------------------------- one cell at a time


@dataclass
class StudentReport:
    """What :func:`make_student` changed in one notebook."""

    solutions: int = 0  # solution regions (or whole solution cells) replaced by a stub
    hidden_tests: int = 0  # hidden-test regions removed
    cleared_cells: int = 0  # cells whose outputs were cleared
    graded_cells: int = 0  # nbgrader grade cells (autograded checks and written answers)
    points: float = 0.0  # their points


def _marker(line: str, number: int, cell_index: int) -> str | None:
    stripped = line.strip()
    if stripped in _PAIRS or stripped in _ENDS:
        return stripped
    for word in _MARKER_WORDS:
        if word in line:
            raise ValueError(
                f"cell {cell_index}, line {number}: {word!r} in the middle of a line; nbgrader "
                f"reads any line that contains it as a marker: write the marker alone on its "
                f"line ('### {word}') or reword the line."
            )
    return None


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
        ValueError: a marker without its partner, a region inside another region, an END with
            no BEGIN, or a marker's words in the middle of a line; the message names the cell
            index and the line number (cells from 0, lines from 1, as an editor shows them).
    """
    out: list[str] = []
    open_marker: str | None = None  # the BEGIN line we are inside, if any
    open_line = 0
    solutions = hidden = 0
    for number, line in enumerate(source.splitlines(), start=1):
        marker = _marker(line, number, cell_index)
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


# -------------------------------------------------------------------------- nbgrader's metadata


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    """Whether nbgrader treats the cell as a solution cell (the student writes in it)."""
    return bool(_nbgrader(cell).get("solution", False))


def is_grade(cell) -> bool:
    """Whether nbgrader grades the cell: an autograded check, or a manually graded answer."""
    return bool(_nbgrader(cell).get("grade", False))


def is_locked(cell) -> bool:
    """Whether nbgrader restores the cell's source from the answer key when it grades."""
    if is_solution(cell):
        return False
    return is_grade(cell) or bool(_nbgrader(cell).get("locked", False))


def nbgrader_checksum(cell) -> str:
    """The checksum ``nbgrader generate_assignment`` stores in a cell (nbgrader.utils).

    ``nbgrader validate`` and ``autograde`` compare it with the cell as submitted, to tell
    whether a student changed a locked cell.
    """
    digest = hashlib.md5()
    meta = _nbgrader(cell)
    parts = [cell.source, cell.cell_type, str(is_grade(cell)), str(is_solution(cell)),
             str(is_locked(cell)), meta["grade_id"]]
    if is_grade(cell):
        parts.append(str(float(meta["points"])))
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def cell_metadata(grade_id: str, *, solution: bool = False, grade: bool = False,
                  points: float = 0) -> dict:
    """nbgrader metadata (schema 3) for one cell.

    Args:
        grade_id: a name unique in the notebook (letters, digits, ``-`` and ``_``).
        solution: the student writes in the cell (an answer).
        grade: the cell is graded: a check cell (``solution=False``: autograded, locked) or a
            written answer (``solution=True``: graded by hand).
        points: what the cell is worth, for a graded cell.
    """
    meta = {"grade": grade, "grade_id": grade_id, "locked": grade and not solution,
            "schema_version": SCHEMA_VERSION, "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def _exercise_numbers(nb) -> list[int | None]:
    """The exercise each cell of the Exercises section belongs to (None elsewhere)."""
    numbers: list[int | None] = []
    current, in_exercises = None, False
    for cell in nb.cells:
        heading = _heading(cell)
        if heading:
            in_exercises = heading.lower().startswith("## exercises")
            current = None
        if in_exercises and cell.cell_type == "markdown":
            task = _TASK.search(cell.source)
            current = int(task.group(1)) if task else current
        check = _CHECK.match(cell.source) if cell.cell_type == "code" else None
        numbers.append(int(check.group(1)) if check else (current if in_exercises else None))
    return numbers


def annotate(nb, *, points: float = 1) -> list[str]:
    """Give a lesson's exercise cells their nbgrader metadata, from the lesson conventions.

    In the ``## Exercises`` section: a cell that holds a solution region becomes a solution cell
    (``exN-answer``; a Markdown one, a written answer graded by hand, ``exN-written`` with
    ``points``), and a code cell that starts with ``# Check: exercise N`` an autograded check
    (``exN-check``, locked, ``points``). Cells that already carry nbgrader metadata are left
    as they are, so an author can change points or ids by hand. The notebook is changed in place.

    Args:
        nb: a lesson read with ``nbformat.read(..., as_version=4)``.
        points: the points of each new graded cell.

    Returns:
        The grade ids given.
    """
    given: list[str] = []
    for cell, number in zip(nb.cells, _exercise_numbers(nb)):
        if number is None or "nbgrader" in cell.get("metadata", {}):
            continue
        has_solution = BEGIN_SOLUTION in cell.source
        if cell.cell_type == "code" and _CHECK.match(cell.source):
            meta = cell_metadata(f"ex{number}-check", grade=True, points=points)
        elif has_solution and cell.cell_type == "code":
            meta = cell_metadata(f"ex{number}-answer", solution=True)
        elif has_solution and cell.cell_type == "markdown":
            meta = cell_metadata(f"ex{number}-written", solution=True, grade=True, points=points)
        else:
            continue
        ids = {_nbgrader(other).get("grade_id") for other in nb.cells}
        base, suffix = meta["grade_id"], 2
        while meta["grade_id"] in ids:
            meta["grade_id"], suffix = f"{base}-{suffix}", suffix + 1
        cell.metadata["nbgrader"] = meta
        given.append(meta["grade_id"])
    return given


def _check_metadata(cell, index: int, solutions: int, hidden: int) -> None:
    where = f"cell {index}"
    grade_id = _nbgrader(cell).get("grade_id", "")
    if (solutions or hidden or _nbgrader(cell)) and not re.fullmatch(r"[A-Za-z0-9_-]+", grade_id):
        what = "a solution region" if solutions else "hidden tests" if hidden else "nbgrader"
        raise ValueError(
            f"{where} has {what} but no valid nbgrader grade_id in its metadata (got "
            f"{grade_id!r}): give the exercise cells their metadata with "
            f"minivision.assignment.annotate(notebook), or in Jupyter's nbgrader toolbar."
        )
    if solutions and not is_solution(cell):
        raise ValueError(f"{where} ({grade_id}) has a solution region but is not an nbgrader "
                         "solution cell: set \"solution\": true in its nbgrader metadata.")
    if hidden and not is_grade(cell):
        raise ValueError(f"{where} ({grade_id}) has hidden tests but is not an nbgrader grade "
                         "cell: set \"grade\": true and its points in its nbgrader metadata.")
    if is_grade(cell) and "points" not in _nbgrader(cell):
        raise ValueError(f"{where} ({grade_id}) is a grade cell without points.")


def _release_metadata(cell) -> None:
    """What ``nbgrader generate_assignment`` adds to a cell: locks, then the checksum."""
    if is_solution(cell):
        cell.metadata["deletable"] = False
    elif is_locked(cell):
        cell.metadata["deletable"] = False
        cell.metadata["editable"] = False
    if is_grade(cell) or is_solution(cell) or is_locked(cell):
        cell.metadata.nbgrader["checksum"] = nbgrader_checksum(cell)
        cell.metadata.nbgrader["cell_type"] = cell.cell_type


def _in_exercises(nb) -> list[bool]:
    flags, in_exercises = [], False
    for cell in nb.cells:
        heading = _heading(cell)
        if heading:
            in_exercises = heading.lower().startswith("## exercises")
        flags.append(in_exercises)
    return flags


def _student_links(source: str) -> str:
    """Point the lesson's "Open in Colab" links at the published student notebook."""
    from minivision import lesson

    prefix = lesson.colab_url("NAME.ipynb").removesuffix("NAME.ipynb")
    return re.sub(re.escape(prefix) + r"([\w.-]+\.ipynb)",
                  lambda match: lesson.student_colab_url(match.group(1)), source)


def make_student(nb):
    """The student version of a notebook (the input is not changed).

    Args:
        nb: a notebook read with ``nbformat.read(..., as_version=4)``.

    Returns:
        ``(student_nb, report)``.

    Raises:
        ValueError: unbalanced or nested markers (see :func:`student_source`), or a cell whose
            markers and nbgrader metadata disagree (a solution region outside a solution cell,
            hidden tests outside a grade cell, a missing or repeated ``grade_id``).
    """
    student = copy.deepcopy(nb)
    report = StudentReport()
    seen: dict[str, int] = {}
    for index, (cell, in_exercises) in enumerate(zip(student.cells, _in_exercises(student))):
        if cell.cell_type not in ("code", "markdown"):
            continue
        source, solutions, hidden = student_source(
            cell.source, cell_type=cell.cell_type, cell_index=index
        )
        _check_metadata(cell, index, solutions, hidden)
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in seen:
            raise ValueError(f"cells {seen[grade_id]} and {index} share the nbgrader grade_id "
                             f"{grade_id!r}; each graded or solution cell needs its own.")
        if grade_id:
            seen[grade_id] = index
        if is_solution(cell) and not solutions:  # a whole-cell answer, as nbgrader does it
            source = "\n".join(CODE_STUB) if cell.cell_type == "code" else ANSWER_STUB
            solutions = 1
        cell.source = _student_links(source) if cell.cell_type == "markdown" else source
        report.solutions += solutions
        report.hidden_tests += hidden
        if is_grade(cell):
            report.graded_cells += 1
            report.points += float(_nbgrader(cell)["points"])
        if _nbgrader(cell):
            _release_metadata(cell)
        answer_dependent = in_exercises or solutions or hidden or _nbgrader(cell)
        if cell.cell_type == "code" and answer_dependent:
            if cell.outputs or cell.execution_count is not None:
                report.cleared_cells += 1
            cell.outputs = []
            cell.execution_count = None
    return student, report


def answer_lines(nb) -> set[str]:
    """The lines a student must not see: those of the solutions and the hidden tests.

    Only the lines that the student version does not also contain count (a solution's
    ``return x`` may stand in a docstring's example too). Tests use this to prove that a
    release or a built site gives nothing away.

    Args:
        nb: a lesson (the answer key).

    Returns:
        The stripped, non-blank lines of its solution and hidden-test regions, and of its
        whole-cell solutions.
    """
    secret: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type not in ("code", "markdown"):
            continue
        inside = is_solution(cell) and BEGIN_SOLUTION not in cell.source
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped in _PAIRS or stripped in _ENDS:
                inside = stripped in _PAIRS
            elif inside and stripped:
                secret.add(stripped)
    student, _ = make_student(nb)
    public = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    return secret - public


EXERCISE_SETUP_TAG = "exercise-setup"


def _tagged_setup(cell) -> bool:
    return EXERCISE_SETUP_TAG in cell.get("metadata", {}).get("tags", [])


def _heading(cell) -> str:
    if cell.cell_type != "markdown":
        return ""
    first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
    return first.strip() if first.startswith("## ") else ""


def exercises_only(nb):
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


# ------------------------------------------------------------------------------------- files


def _read_lesson(notebook: str | Path):
    import nbformat

    src = Path(notebook)
    if not src.is_file():
        raise FileNotFoundError(
            f"no notebook at {str(src)!r}: give the path of a lesson, e.g. lessons/00_setup.ipynb"
        )
    if src.suffix != ".ipynb":
        raise ValueError(f"{str(src)!r} is not a notebook: expected a file ending in .ipynb")
    return src, nbformat.read(src, as_version=4)


def write_student(notebook: str | Path, out_dir: str | Path, *,
                  exercises: bool = False) -> tuple[Path, StudentReport]:
    """Read a lesson, write its student version into ``out_dir`` under the same file name.

    Args:
        notebook: the lesson (with solutions).
        out_dir: the folder for the student version; created if needed.
        exercises: write only the setup and the Exercises section (:func:`exercises_only`).

    Returns:
        ``(path_written, report)``.

    Raises:
        FileNotFoundError: ``notebook`` does not exist.
        ValueError: it is not a ``.ipynb`` file, the output would overwrite it, or its markers
            or nbgrader metadata are wrong (see :func:`make_student`).
    """
    import nbformat

    src, nb = _read_lesson(notebook)
    dest = Path(out_dir) / src.name
    if dest.resolve() == src.resolve():
        raise ValueError(
            f"the student version would overwrite the lesson itself ({str(src)!r}): "
            "choose another --out folder"
        )
    if exercises:
        nb = exercises_only(nb)
    try:
        student, report = make_student(nb)
    except ValueError as err:
        raise ValueError(f"{src}: {err}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, dest)
    return dest, report


NBGRADER_CONFIG = '''\
# nbgrader configuration written by `minivision assignment --course`.
# Run the nbgrader commands from this folder (see the instructor guide).
c = get_config()
c.CourseDirectory.course_id = "minivision"
# The release keeps the figures and results of the lesson body: the source notebooks come
# without the outputs of their exercise cells, and nbgrader leaves the other outputs alone.
c.ClearOutput.enabled = False
# Grading runs every cell of a submission; quick mode (MINIVISION_QUICK=1 in the environment of
# `nbgrader autograde`) keeps the lesson body short, and the exercises do not depend on it.
c.ExecutePreprocessor.timeout = 1800
'''


def write_course(notebooks: list[str | Path], course_dir: str | Path, *,
                 name: str = "lessons", exercises: bool = False) -> list[Path]:
    """Lay the lessons out as the source of one nbgrader assignment.

    Writes ``course_dir/source/<name>/NN_name.ipynb`` (the answer key, with the outputs of its
    exercise cells cleared) and, unless it exists, ``course_dir/nbgrader_config.py``. Then
    ``nbgrader generate_assignment <name>`` (run in ``course_dir``) writes ``release/<name>/``,
    the same notebooks as :func:`write_student` writes.

    Args:
        notebooks: the lessons.
        course_dir: the nbgrader course folder; created if needed.
        name: the assignment's name (letters, digits, ``-`` and ``_``).
        exercises: only the setup and the Exercises section of each lesson.

    Returns:
        The paths written.

    Raises:
        FileNotFoundError, ValueError: as for :func:`write_student`, and for a bad ``name``.
    """
    import nbformat

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"assignment name {name!r}: use letters, digits, '-' and '_' only")
    course = Path(course_dir)
    written = []
    for notebook in notebooks:
        src, nb = _read_lesson(notebook)
        if exercises:
            nb = exercises_only(nb)
        try:
            make_student(nb)  # the same checks nbgrader makes, with clearer messages
        except ValueError as err:
            raise ValueError(f"{src}: {err}") from None
        for cell, in_exercises in zip(nb.cells, _in_exercises(nb)):
            if cell.cell_type == "code" and (in_exercises or _nbgrader(cell)):
                cell.outputs, cell.execution_count = [], None
            if cell.cell_type == "markdown":  # the release's badge opens the student version
                cell.source = _student_links(cell.source)
        dest = course / "source" / name / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        written.append(dest)
    config = course / "nbgrader_config.py"
    if not config.exists():
        config.write_text(NBGRADER_CONFIG)
        written.append(config)
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``minivision assignment``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="minivision assignment",
        description="Write the student version of lessons (solutions replaced by stubs, hidden "
        "tests removed, nbgrader metadata kept), or lay them out as an nbgrader course.",
    )
    parser.add_argument(
        "notebooks", nargs="+", metavar="LESSON.ipynb", help="lessons with solution markers"
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="folder for the student versions")
    where.add_argument("--course", metavar="DIR",
                       help="nbgrader course folder: writes DIR/source/NAME/ and its config")
    parser.add_argument("--name", default="lessons",
                        help="the nbgrader assignment's name, with --course (default: lessons)")
    parser.add_argument("--exercises-only", action="store_true",
                        help="keep only the setup cells and the Exercises section")
    args = parser.parse_args(argv)
    if args.course:
        try:
            written = write_course(args.notebooks, args.course, name=args.name,
                                   exercises=args.exercises_only)
        except (OSError, ValueError) as err:
            print(f"minivision assignment: error: {err}", file=sys.stderr)
            return 1
        print(f"wrote {len(written)} file(s) under {args.course}; now run, in that folder: "
              f"nbgrader generate_assignment {args.name}")
        return 0
    status = 0
    for notebook in args.notebooks:
        try:
            dest, report = write_student(notebook, args.out, exercises=args.exercises_only)
        except (OSError, ValueError) as err:
            print(f"minivision assignment: error: {err}", file=sys.stderr)
            status = 1
            continue
        print(
            f"{notebook} -> {dest}: {report.solutions} solution(s) cut, "
            f"{report.hidden_tests} hidden test region(s) removed, "
            f"{report.graded_cells} graded cell(s) worth {report.points:g} point(s)"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
