"""Rewrite the lessons' imports of the minivision modules that moved (issue 17, one idea per file).

    python tools/update_lesson_imports.py              # rewrite lessons/*.ipynb, print each change
    python tools/update_lesson_imports.py --check      # change nothing; exit 1 if a lesson needs it
    python tools/update_lesson_imports.py lessons/02_spatial_transformers.ipynb

What moved:

    minivision.layers.sampling        -> minivision.layers.grid_sample (``sampling.f`` too)
    minivision.analysis._context      -> minivision.analysis.hooks
    minivision.training.utils         -> minivision.runtime (seed, device, precision, tqdm),
                                         minivision.models.parameters (count_parameters),
                                         minivision.training.wrappers (unwrap_model)

Only cell sources change (code and markdown), never outputs; a notebook is written back only
when one of its cells changed, in the repository's format (``indent=1``, a final newline).
Running it twice changes nothing the second time. It also lists, without changing them, calls
of the classmethods ``VisionTransformer.from_hf / from_timm / from_torchvision``, which are gone
(use ``load_hf``, ``load_timm``, ``load_torchvision`` from ``minivision``).
"""
import argparse
import json
import re
import sys
from pathlib import Path

LESSONS = Path(__file__).resolve().parents[1] / "lessons"
MAX_LESSON_LINE = 88  # shared/STYLE.md: lesson cells stay within 88 columns

# Dotted paths, replaced wherever they appear (import lines, prose, ``python -m``).
MOVED_MODULES = {
    "minivision.layers.sampling": "minivision.layers.grid_sample",
    "minivision.analysis._context": "minivision.analysis.hooks",
}

# Where each name of the old minivision.training.utils lives now.
TRAINING_UTILS_HOMES = {
    "seed_everything": "minivision.runtime",
    "pick_device": "minivision.runtime",
    "pick_amp": "minivision.runtime",
    "cpu_has_native_bf16": "minivision.runtime",
    "tqdm": "minivision.runtime",
    "count_parameters": "minivision.models.parameters",
    "unwrap_model": "minivision.training.wrappers",
}

OLD_SUBMODULE_IMPORT = re.compile(r"^([ \t]*)from minivision\.layers import sampling\b",
                                  re.MULTILINE)
QUALIFIED_USE = re.compile(r"(?<![\w.])sampling\.(affine_grid|bilinear_sample)\b")
IMPORTS_GRID_SAMPLE = re.compile(r"from minivision\.layers import (sampling|grid_sample)\b")
TRAINING_UTILS_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from minivision\.training\.utils import (?P<names>[\w, ]+?)"
    r"(?P<comment>[ \t]*#.*)?$", re.MULTILINE)
REMOVED_CLASSMETHOD = re.compile(r"VisionTransformer\.(from_hf|from_timm|from_torchvision)\b")


def _split_training_utils_import(match: re.Match) -> str:
    """One ``from minivision.training.utils import a, b`` line -> one import line per new home."""
    names = [name.strip() for name in match["names"].split(",") if name.strip()]
    unknown = [name for name in names if name not in TRAINING_UTILS_HOMES]
    if unknown:  # leave the line for a person: the re-export module may be gone
        return match[0]
    by_home: dict[str, list[str]] = {}
    for name in names:
        by_home.setdefault(TRAINING_UTILS_HOMES[name], []).append(name)
    lines = [f"{match['indent']}from {home} import {', '.join(group)}"
             for home, group in by_home.items()]
    lines[0] += match["comment"] or ""
    return "\n".join(lines)


def _open_bracket_column(line: str) -> int | None:
    """The column just after the last bracket ``line`` leaves open (where a visual continuation
    line is aligned), or None; brackets inside string literals do not count."""
    stack, quote = [], None
    for column, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            break
        elif char in "([{":
            stack.append(column + 1)
        elif char in ")]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _rename_qualified_uses(source: str) -> str:
    """``sampling.affine_grid(`` -> ``grid_sample.affine_grid(``, moving the lines aligned under
    its open bracket by as many columns as the name grew."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        new = QUALIFIED_USE.sub(r"grid_sample.\1", line)
        if new == line:
            continue
        old_column, new_column = _open_bracket_column(line), _open_bracket_column(new)
        j = i + 1
        while old_column and j < len(lines) and _indent(lines[j]) == old_column:
            lines[j] = " " * new_column + lines[j].lstrip(" ")
            j += 1
        lines[i] = new
    return "\n".join(lines)


def rewrite_source(source: str, cell_type: str, uses_grid_sample: bool) -> str:
    """The cell's source with every moved path rewritten (the same text if nothing moved)."""
    for old, new in MOVED_MODULES.items():
        source = re.sub(re.escape(old) + r"\b", new, source)
    if cell_type != "code":
        return source
    source = OLD_SUBMODULE_IMPORT.sub(r"\1from minivision.layers import grid_sample", source)
    if uses_grid_sample:
        source = _rename_qualified_uses(source)
    return TRAINING_UTILS_IMPORT.sub(_split_training_utils_import, source)


def _text(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def update_notebook(path: Path, write: bool = True) -> tuple[bool, list[str]]:
    """Rewrite one notebook.

    Returns:
        whether a cell changed, and a line per changed line (``-`` old, ``+`` new) and per call
        of a removed classmethod that is left for a person.
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    uses_grid_sample = any(IMPORTS_GRID_SAMPLE.search(_text(c)) for c in nb["cells"]
                           if c["cell_type"] == "code")
    changed, report = False, []
    for index, cell in enumerate(nb["cells"]):
        before = _text(cell)
        after = rewrite_source(before, cell["cell_type"], uses_grid_sample)
        for match in REMOVED_CLASSMETHOD.finditer(after):
            report.append(f"{path.name} cell {index}: still calls VisionTransformer.{match[1]} "
                          f"(removed): use {match[1].replace('from_', 'load_')} (not changed here)")
        if after == before:
            continue
        changed = True
        old_lines, new_lines = before.splitlines(), after.splitlines()
        for line in old_lines:
            if line not in new_lines:
                report.append(f"{path.name} cell {index}: - {line.strip()}")
        for line in new_lines:
            if line not in old_lines:
                too_long = cell["cell_type"] == "code" and len(line) > MAX_LESSON_LINE
                note = f"  [longer than {MAX_LESSON_LINE} columns]" if too_long else ""
                report.append(f"{path.name} cell {index}: + {line.strip()}{note}")
        as_text = isinstance(cell["source"], str)
        cell["source"] = after if as_text else after.splitlines(keepends=True)
    if write and changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: lessons/*.ipynb")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(LESSONS.glob("*.ipynb"))
    needed = []
    for path in paths:
        changed, report = update_notebook(path, write=not args.check)
        for line in report:
            print(line)
        if changed:
            needed.append(path.name)
    verb = "would change" if args.check else "changed"
    print(f"{verb} {len(needed)} of {len(paths)} notebooks: {', '.join(needed) or 'none'}")
    return 1 if args.check and needed else 0


if __name__ == "__main__":
    sys.exit(main())
