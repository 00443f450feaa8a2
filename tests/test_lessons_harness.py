"""The lesson harness: each lesson's structure, and proof that the nbval run catches a broken one.

`make test` re-executes every lesson in quick mode under nbval and compares the text outputs with
the ones stored from the full settings. These tests check what that run relies on:

- each lesson has its title, its own Colab badge (built from ``minivision.lesson.REPO_URL``), the
  sections of the lesson plan, and stored outputs that come from a
  full run (every code cell executed, no error, no "mode: quick");
- a copy of a lesson, cut down to its setup and exercises, passes nbval as it is, and fails once
  it is broken: a cell that raises, a deterministic output that changed, and a cell whose output
  depends on the mode but is not marked ``# NBVAL_IGNORE_OUTPUT``.
"""
import copy
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output

from minivision import lesson
from minivision.assignment import exercises_only

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
IGNORE = "# NBVAL_IGNORE_OUTPUT"
BADGE = re.compile(r"\[!\[Open In Colab\]\(([^)]+)\)\]\(([^)]+)\)")
# Code that prints numbers which change with the mode, the machine or the clock: such a cell must
# be marked IGNORE (training, timings, the settings and hardware lines).
VOLATILE = ("fit(", "perf_counter", "format_settings", "hardware()", "evaluate(")

needs_lessons = pytest.mark.skipif(not LESSONS, reason="no lessons/NN_*.ipynb yet")


def _read(path):
    return nbformat.read(path, as_version=4)


def _code(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


# ------------------------------------------------------------------ minivision.lesson helpers


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("ON", True), ("0", False),
                                          ("", False), ("no", False), (None, False)])
def test_quick_mode_reads_the_environment(monkeypatch, value, quick):
    if value is None:
        monkeypatch.delenv(lesson.QUICK_ENV, raising=False)
    else:
        monkeypatch.setenv(lesson.QUICK_ENV, value)
    assert lesson.quick_mode() is quick
    assert lesson.by_mode(quick="q", full="f") == ("q" if quick else "f")
    assert lesson.format_settings({"epochs": 1}).startswith("mode: quick" if quick else "mode: full")


def test_quick_mode_rejects_a_typo(monkeypatch):
    monkeypatch.setenv(lesson.QUICK_ENV, "yes please")
    with pytest.raises(ValueError, match="MINIVISION_QUICK"):
        lesson.quick_mode()


def test_colab_url_follows_colabs_github_scheme():
    # https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/PATH opens PATH from GitHub
    owner, repo = lesson.REPO_URL.rstrip("/").split("/")[-2:]
    expected = (f"https://colab.research.google.com/github/{owner}/{repo}/blob/{lesson.BRANCH}/"
                "lessons/00_setup.ipynb")
    assert lesson.colab_url("00_setup.ipynb") == expected
    assert lesson.colab_url("lessons/00_setup.ipynb") == expected
    with pytest.raises(ValueError):
        lesson.colab_url("00_setup.py")


# --------------------------------------------------------------------------- lesson structure


@needs_lessons
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_header_badge_and_colab_install_cell(path):
    nb = _read(path)
    header = nb.cells[0]
    assert header.cell_type == "markdown" and header.source.startswith(f"# {path.name[:2]} "), (
        f"{path.name}: the first cell must be the title, '# {path.name[:2]} · ...'"
    )
    badges = BADGE.findall("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    assert badges == [(lesson.COLAB_BADGE_IMAGE, lesson.colab_url(path.name))], (
        f"{path.name}: expected one badge, {lesson.colab_badge(path.name)}, found {badges}"
    )
    assert lesson.colab_badge(path.name) in header.source
    # the first code cell, the install cell, is checked in tests/test_install_cells.py
    assert "Run time" in header.source and "Prerequisites" in header.source
    assert nb.metadata.kernelspec.name == "python3"


@needs_lessons
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_sections_of_the_lesson_plan(path):
    headings = [
        line.strip() for cell in _read(path).cells if cell.cell_type == "markdown"
        for line in cell.source.splitlines() if line.startswith("## ")
    ]
    for section in ("## Learning goals", "## Exercises", "## Further reading"):
        assert section in headings, f"{path.name}: no '{section}' section; found {headings}"
    assert headings.index("## Exercises") < headings.index("## Further reading")


@needs_lessons
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_stored_outputs_come_from_a_full_run(path):
    nb = _read(path)
    cells = _code(nb)
    not_run = [i for i, cell in enumerate(cells) if cell.execution_count is None]
    assert not not_run, f"{path.name}: code cells {not_run} were never run: run `make lessons`"
    counts = [cell.execution_count for cell in cells]
    assert counts == sorted(counts), f"{path.name}: cells were run out of order: run `make lessons`"
    errors = [i for i, cell in enumerate(cells)
              if any(out.output_type == "error" for out in cell.outputs)]
    assert not errors, f"{path.name}: stored errors in code cells {errors}"
    text = "\n".join(_text(cell) for cell in cells)
    assert "mode: quick" not in text, f"{path.name}: outputs from quick mode were committed"
    assert "mode: full" in text, f"{path.name}: no cell prints the settings (lesson.format_settings)"
    assert "widgets" not in nb.metadata, "widget state would make the site load scripts from a CDN"


@needs_lessons
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_figure_shown_is_stored(path):
    # A notebook executed with MPLBACKEND=Agg runs plt.show() silently and stores no figure:
    # the site would show the code without its plot.
    missing = [i for i, cell in enumerate(_code(_read(path)))
               if "plt.show()" in cell.source
               and not any("image/png" in out.get("data", {}) for out in cell.outputs)]
    assert not missing, (f"{path.name}: code cells {missing} call plt.show() but store no image: "
                         "execute the notebook without MPLBACKEND=Agg (`make lessons`)")


def _marked_ignore(cell) -> bool:
    """The first line is the marker and nothing else: nbval reads no other form."""
    lines = cell.source.splitlines()
    return bool(lines) and lines[0].strip() == IGNORE


@needs_lessons
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_volatile_cells_are_marked_ignore(path):
    for index, cell in enumerate(_code(_read(path))):
        if any(word in cell.source for word in VOLATILE):
            assert _marked_ignore(cell), (
                f"{path.name}, code cell {index}: its output depends on the mode or the clock, "
                f"so it must start with {IGNORE!r}:\n{cell.source[:200]}"
            )


@needs_lessons
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_nbval_markers_are_ones_nbval_reads(path):
    # nbval reads a marker only when the comment is the marker and nothing else: with
    # "# NBVAL_IGNORE_OUTPUT (why)" the output is silently compared (CI failed on exactly that)
    from nbval.plugin import comment_markers
    for index, cell in enumerate(_code(_read(path))):
        for line in cell.source.splitlines():
            comment = line.strip().lstrip("#").strip()
            if line.strip().startswith("#") and "NBVAL_" in comment:
                assert comment in comment_markers, (
                    f"{path.name}, code cell {index}: nbval ignores {line.strip()!r}; put the marker "
                    f"alone on its line and the explanation on the next")


def test_volatile_lint_can_fail():
    cell = new_code_cell("history = fit(model, loader)")
    assert any(word in cell.source for word in VOLATILE) and not _marked_ignore(cell)
    assert not _marked_ignore(new_code_cell(f"{IGNORE} (why)\nhistory = fit(model, loader)"))
    assert _marked_ignore(new_code_cell(f"{IGNORE}\n# why\nhistory = fit(model, loader)"))


# ------------------------------------------------------- the nbval run catches a broken lesson


def _nbval(folder: Path, junit: Path) -> subprocess.CompletedProcess:
    """What `make test` runs on the lessons, on the notebooks in ``folder``."""
    env = dict(os.environ, MINIVISION_QUICK="1", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "lessons" / "sanitize.cfg"),
         "-p", "no:cacheprovider", "-o", "addopts=", "-q", f"--junitxml={junit}", str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )


def _failures_per_notebook(junit: Path) -> dict[str, int]:
    """{notebook file name: number of its cells that failed}, from pytest's JUnit XML."""
    failures: dict[str, int] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = Path(case.get("classname", "?")).name  # nbval: the notebook, one case per cell
        failed = case.find("failure") is not None or case.find("error") is not None
        failures[name] = failures.get(name, 0) + int(failed)
    return failures


def _with_cell(nb, index: int, cell):
    nb = copy.deepcopy(nb)
    nb.cells.insert(index, cell)
    return nb


@pytest.mark.skipif(not (ROOT / "lessons" / "00_setup.ipynb").exists(), reason="no lesson 00 yet")
def test_nbval_passes_a_lesson_and_fails_each_way_of_breaking_it(tmp_path):
    base = exercises_only(_read(ROOT / "lessons" / "00_setup.ipynb"))  # setup + exercises: fast
    # the setup cells come first, then the Exercises section: insert right after the setup
    after_setup = next(i for i, cell in enumerate(base.cells) if cell.cell_type == "markdown")

    # A cell whose output depends on the mode, stored from a full run (what `make lessons` writes).
    full_value = new_code_cell('print(lesson.by_mode(quick="quick value", full="full value"))')
    full_value.outputs = [new_output("stream", name="stdout", text="full value\n")]
    full_value.execution_count = 1
    marked = copy.deepcopy(full_value)
    marked.source = IGNORE + "\n" + marked.source

    raising = new_code_cell('raise RuntimeError("broken on purpose")')
    changed = copy.deepcopy(base)
    check = next(cell for cell in changed.cells if cell.source.startswith("# Check: exercise 1"))
    assert _text(check) == "exercise 1: correct\n", _text(check)
    check.outputs[0].text = "exercise 1: correct!\n"  # as if the code's output had changed

    notebooks = {
        "control.ipynb": _with_cell(base, after_setup, marked),
        "raises.ipynb": _with_cell(base, after_setup, raising),
        "changed_output.ipynb": changed,
        "mode_dependent_unmarked.ipynb": _with_cell(base, after_setup, full_value),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, tmp_path / name)
    done = _nbval(tmp_path, tmp_path / "junit.xml")
    failures = _failures_per_notebook(tmp_path / "junit.xml")
    assert done.returncode != 0, "breaking a lesson must make the test command fail"
    assert set(failures) == set(notebooks), (failures, done.stdout[-3000:])
    assert failures["control.ipynb"] == 0, f"the unbroken lesson must pass:\n{done.stdout[-3000:]}"
    for name in ("raises.ipynb", "changed_output.ipynb", "mode_dependent_unmarked.ipynb"):
        assert failures[name] >= 1, f"nbval did not catch {name}:\n{done.stdout[-3000:]}"
