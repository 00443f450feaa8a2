"""tools/update_lesson_imports.py: every moved path is rewritten to one that imports, the layout
of the code is kept, and a second run changes nothing."""
import importlib
import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
update = importlib.import_module("update_lesson_imports")

LESSON_02_CELL = """from minivision.layers import sampling
grid = sampling.affine_grid(theta,
                            (1, 3, 8, 8))  # (1, 8, 8, 2)
by_hand = sampling.bilinear_sample(
    images, sampling.affine_grid(thetas, images.shape, align_corners),
    align_corners)
my_sampling.affine_grid = None  # another name that ends in "sampling" is left alone"""


def test_lesson_02s_module_and_its_uses_are_renamed_and_the_alignment_kept():
    new = update.rewrite_source(LESSON_02_CELL, "code", uses_grid_sample=True)
    assert new.splitlines() == [
        "from minivision.layers import grid_sample",
        "grid = grid_sample.affine_grid(theta,",
        "                               (1, 3, 8, 8))  # (1, 8, 8, 2)",  # still under the "("
        "by_hand = grid_sample.bilinear_sample(",
        "    images, grid_sample.affine_grid(thetas, images.shape, align_corners),",
        "    align_corners)",
        'my_sampling.affine_grid = None  # another name that ends in "sampling" is left alone',
    ]
    assert update.rewrite_source(new, "code", uses_grid_sample=True) == new


def test_training_utils_names_go_to_their_new_homes_and_each_new_line_imports():
    old = ("from minivision.training.utils import cpu_has_native_bf16\n"
           "    from minivision.training.utils import count_parameters, pick_amp  # why\n")
    new = update.rewrite_source(old, "code", uses_grid_sample=False)
    assert new.splitlines() == [
        "from minivision.runtime import cpu_has_native_bf16",
        "    from minivision.models.parameters import count_parameters  # why",
        "    from minivision.runtime import pick_amp",
    ]
    for line in new.splitlines():  # each rewritten import resolves against today's package
        module, names = re.match(r"\s*from (\S+) import ([\w, ]+)", line).groups()
        for name in names.split(","):
            assert hasattr(importlib.import_module(module), name.strip()), line
    for module in update.MOVED_MODULES.values():
        importlib.import_module(module)


def test_markdown_paths_change_but_not_a_names_qualified_use():
    text = "`minivision.layers.sampling` writes both steps; `sampling.affine_grid` is one."
    new = update.rewrite_source(text, "markdown", uses_grid_sample=True)
    assert new == ("`minivision.layers.grid_sample` writes both steps; "
                   "`sampling.affine_grid` is one.")


def _notebook(tmp_path: Path, sources: list[str]) -> Path:
    cells = [{"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [
        {"name": "stdout", "output_type": "stream", "text": ["sampling.affine_grid stays\n"]}],
        "source": source.splitlines(keepends=True)} for source in sources]
    path = tmp_path / "02_x.ipynb"
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_a_notebook_is_rewritten_in_place_once_and_only_its_sources_change(tmp_path, capsys):
    path = _notebook(tmp_path, [LESSON_02_CELL, "VisionTransformer.from_timm(model)"])
    before = json.loads(path.read_text())
    assert update.main(["--check", str(path)]) == 1 and json.loads(path.read_text()) == before
    assert update.main([str(path)]) == 0
    printed = capsys.readouterr().out
    assert "+ from minivision.layers import grid_sample" in printed
    assert "still calls VisionTransformer.from_timm" in printed  # listed, left for a person
    after = json.loads(path.read_text())
    assert path.read_text().endswith("}\n")
    assert "grid_sample.affine_grid(theta," in "".join(after["cells"][0]["source"])
    assert after["cells"][0]["outputs"] == before["cells"][0]["outputs"]
    assert after["cells"][1] == before["cells"][1]
    text = path.read_text()
    assert update.main([str(path)]) == 0 and path.read_text() == text  # idempotent
    assert update.main(["--check", str(path)]) == 0


@pytest.mark.parametrize("line, column", [("f(a,", 2), ("x = g(h(1), [2,", 13),
                                          ('s = f("(", ', 6), ("done(1)", None)])
def test_the_open_bracket_column_ignores_closed_and_quoted_brackets(line, column):
    assert update._open_bracket_column(line) == column
