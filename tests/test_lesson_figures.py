"""The lessons' code follows the site's figure convention (minivision.plot): no figure wider than
FIGURE_WIDTH inches, no text set below MIN_FONT_SIZE points.

`use_site_style()` in every setup cell sets the defaults; what this checks is the sizes a cell
writes by hand, which override them. Only numbers written as literals are checked (a width
computed from the data is `plot_image_grid`'s business, which wraps wide grids into rows).

PENDING lists the cells whose code still breaks the convention: their stored figures come from
a full run made before it (lesson 01's, on an H100), and the code changes with the stored
outputs at the lesson's next full run, which needs a GPU (issue 15). A cell fixed early, or a
new cell that breaks the rule, fails the test, so the list only shrinks.
"""
import ast
import json
from pathlib import Path

import pytest

from minivision.plot import FIGURE_WIDTH, MIN_FONT_SIZE

LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("[0-9][0-9]_*.ipynb"))

# (lesson, cell index) -> what breaks the rule there, written out so that a change shows.
PENDING = {
    ("01", 18): "figsize 11 in, fontsize 8", ("01", 21): "figsize 11 in, fontsize 7",
}


def literal_sizes(source: str) -> tuple[list[float], list[float]]:
    """The literal figure widths (inches) and font sizes (points) a cell's code sets.

    Returns ([widths of figsize=(w, h)], [values of fontsize=s]), literals only."""
    try:
        tree = ast.parse("\n".join(line for line in source.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return [], []
    widths, fonts = [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.keyword):
            continue
        value = node.value
        if node.arg == "figsize" and isinstance(value, ast.Tuple) and value.elts:
            first = value.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, (int, float)):
                widths.append(float(first.value))
        elif node.arg == "fontsize" and isinstance(value, ast.Constant) \
                and isinstance(value.value, (int, float)):
            fonts.append(float(value.value))
    return widths, fonts


def violations(source: str) -> str:
    """'' when the cell keeps the convention, else e.g. 'figsize 12 in, fontsize 8'."""
    widths, fonts = literal_sizes(source)
    parts = [f"figsize {w:g} in" for w in widths if w > FIGURE_WIDTH + 1e-9]
    parts += [f"fontsize {s:g}" for s in fonts if s < MIN_FONT_SIZE]
    return ", ".join(dict.fromkeys(parts))


def test_the_checker_sees_wide_figures_and_small_text():
    assert violations("fig, ax = plt.subplots(1, 3, figsize=(12, 3))") == "figsize 12 in"
    assert violations("ax.set_title('x', fontsize=7)") == "fontsize 7"
    assert violations("plt.subplots(figsize=(8.5, 3)); ax.text(0, 0, 's', fontsize=10)") == ""
    assert violations("%matplotlib inline\nplt.figure(figsize=(w, 3))") == ""  # not a literal


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_lesson_figures_follow_the_site_convention(path):
    cells = json.loads(path.read_text())["cells"]
    lesson = path.name[:2]
    found = {}
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code" and (broken := violations("".join(cell["source"]))):
            found[(lesson, index)] = broken
    pending = {key: value for key, value in PENDING.items() if key[0] == lesson}
    new = {key: value for key, value in found.items() if pending.get(key) != value}
    assert not new, (f"lesson {lesson}: cells that break the figure convention "
                     f"(FIGURE_WIDTH = {FIGURE_WIDTH} in, MIN_FONT_SIZE = {MIN_FONT_SIZE} pt; "
                     f"use_site_style() sets both): {new}")
    fixed = sorted(set(pending) - set(found))
    assert not fixed, f"lesson {lesson}: fixed, so take them off PENDING: {fixed}"
