"""Lesson code fits the site's content column: no line of a code cell is longer than
CODE_COLUMNS (the column shows that many characters at 1280 px, test_layout.py measures it), and
tools/wrap_lesson_code.py rewraps the lines that are, without changing what the code does."""
import ast
import json
import sys
from pathlib import Path

import pytest
from sitepages import CODE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
from wrap_lesson_code import WIDTH, wrap_code, wrap_notebook  # noqa: E402


def _code_lines(notebook: Path):
    for index, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        if cell["cell_type"] == "code":
            for number, line in enumerate("".join(cell["source"]).split("\n"), 1):
                yield index, number, line


def test_lesson_code_lines_fit_the_column():
    long = [f"{nb.name} cell {cell} line {n}: {len(line)} characters"
            for nb in LESSONS for cell, n, line in _code_lines(nb) if len(line) > CODE_COLUMNS]
    assert not long, f"{len(long)} lines longer than {CODE_COLUMNS}:\n" + "\n".join(long)


def test_the_script_wraps_to_the_column_the_site_shows():
    assert WIDTH == CODE_COLUMNS


def _same_tree(a: str, b: str) -> bool:
    return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))


def test_a_long_call_is_wrapped_after_a_comma_and_means_the_same():
    source = ("model = VisionTransformer(image_size=32, patch_size=4, embed_dim=192, depth=6, "
              "num_heads=3, mlp_ratio=4.0)\nprint(model)")
    new, still = wrap_code(source, 60)
    assert not still and all(len(line) <= 60 for line in new.split("\n")), new
    assert _same_tree(source, new) and new.count("\n") > source.count("\n")
    assert new.split("\n")[1].startswith(" " * len("model = VisionTransformer(")), new


def test_a_trailing_comment_that_does_not_fit_moves_above_its_line():
    source = "for n in range(N):  # the frames at patch position n attend to each other\n    pass"
    new, still = wrap_code(source, 40)
    lines = new.split("\n")
    assert not still and lines[-2:] == ["for n in range(N):", "    pass"], new
    assert all(line.startswith("# ") for line in lines[:-2]) and _same_tree(source, new)


def test_a_long_comment_is_wrapped_as_comments():
    source = "    # " + " ".join(["word"] * 30) + "\nx = 1"
    source = "if True:\n" + source.replace("\nx = 1", "\n    x = 1")
    new, still = wrap_code(source, 50)
    assert not still and all(line.strip().startswith("#") for line in new.split("\n")[1:-1])


def test_a_long_string_in_a_call_is_split_into_parts_that_python_joins():
    source = 'print(f"the block == the image Block, for T = 1 and T = {T}, in every layer we have")'
    new, still = wrap_code(source, 50)
    assert not still and _same_tree(source, new), new


def test_magics_markers_and_code_that_does_not_parse_are_left_alone():
    magic = '%pip install -q "minivision[multimodal] @ git+https://github.com/minivision-org/x"'
    assert wrap_code(magic + "\nx = 1", 40)[0] == magic + "\nx = 1"
    # a magic inside a block keeps its place; the code around it is still wrapped
    block = "if IN_COLAB:\n    " + magic + "\n" + "y = f(" + ", ".join(["argument"] * 8) + ")"
    new, still = wrap_code(block, 60)
    assert new.split("\n")[:2] == block.split("\n")[:2] and still == [2], new
    cell_magic = "%%time\nx = f(aaaaaaaaaa, bbbbbbbbbbbbbb, cccccccccccccc, dddddddddddd)"
    assert wrap_code(cell_magic, 30)[0] == cell_magic
    broken = "x = f(aaaaaaaaaa, bbbbbbbbbbbbbb, cccccccccccccc, dddddddddddd"
    new, still = wrap_code(broken, 30)
    assert new == broken and still == [1]
    marker = "# NBVAL_IGNORE_OUTPUT " + "x" * 80
    assert wrap_code(marker, 40)[0] == marker


def test_a_notebook_is_rewritten_in_its_sources_only(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# " + "long " * 40]},
        {"cell_type": "code", "execution_count": 1, "id": "b", "metadata": {"tags": ["t"]},
         "outputs": [{"name": "stdout", "output_type": "stream", "text": ["ok\n"]}],
         "source": ["y = dict(" + ", ".join(f"key{i}={i}" for i in range(20)) + ")\n",
                    "print(y)"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "00_x.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    before = path.read_text()
    counts = wrap_notebook(path)  # a dry run writes nothing
    assert counts["over"] == 1 and counts["changed"] == 1 and path.read_text() == before
    wrap_notebook(path, write=True)
    after = json.loads(path.read_text())
    assert after["cells"][0] == nb["cells"][0]
    code = after["cells"][1]
    assert {k: v for k, v in code.items() if k != "source"} == \
        {k: v for k, v in nb["cells"][1].items() if k != "source"}
    source = "".join(code["source"])
    assert _same_tree(source, "".join(nb["cells"][1]["source"]))
    assert max(len(line) for line in source.split("\n")) <= WIDTH
