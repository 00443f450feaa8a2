"""Rewrap the over-long lines of the lessons' code cells so that each fits the site's content
column (88 characters: STYLE.md's limit for lesson cells, which the site shows whole at 1280 px).

    python tools/wrap_lesson_code.py lessons/*.ipynb           # dry run: what would change
    python tools/wrap_lesson_code.py --write lessons/*.ipynb   # edit the sources in place

Only the ``source`` of code cells changes (outputs, metadata and ids are left alone). The rewrap
is safe by construction: a line is split only between tokens, inside brackets (after a comma or
an opening bracket), a trailing comment that does not fit moves onto its own line above, and a
long comment line is wrapped as comments; a cell is changed only when its code parses before and
after to the same syntax tree (``ast.dump``). Lines holding IPython magics (``%pip``, ``!ls``)
and cells that start with a cell magic (``%%time``) are left as they are, as are nbval and
nbgrader marker lines.
"""
import argparse
import ast
import io
import json
import re
import sys
import textwrap
import tokenize
from pathlib import Path

WIDTH = 88
_MAGIC = re.compile(r"^\s*[%!]")
_MARKER = re.compile(r"^\s*#+\s*(NBVAL_|BEGIN |END |YOUR CODE|Check:)")
_PLACEHOLDER = "pass  # magic {}"


def wrap_code(source: str, width: int = WIDTH) -> tuple[str, list[int]]:
    """``source`` with every line longer than ``width`` rewrapped where that can be done safely.

    Returns (new source, the 1-based numbers of the lines of the *new* source that are still too
    long). The source comes back unchanged when it does not parse (after masking magics) or when
    the rewrap would change its syntax tree."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        return source, _too_long(lines, width)
    magics = {i: line for i, line in enumerate(lines) if _MAGIC.match(line)}
    masked = [line[: len(line) - len(line.lstrip())] + _PLACEHOLDER.format(i) if i in magics
              else line for i, line in enumerate(lines)]
    try:
        before = ast.dump(ast.parse("\n".join(masked)))
    except SyntaxError:
        return source, _too_long(lines, width)
    for _ in range(10 * len(masked)):  # each step shortens one line
        step = _one_step(masked, width)
        if step is None:
            break
        masked = step
    try:
        same = ast.dump(ast.parse("\n".join(masked))) == before
    except SyntaxError:
        same = False
    if not same:
        return source, _too_long(lines, width)
    restored = []
    for line in masked:
        placeholder = re.fullmatch(r"\s*pass  # magic (\d+)", line)
        restored.append(magics[int(placeholder.group(1))] if placeholder else line)
    return "\n".join(restored), _too_long(restored, width)


def _too_long(lines, width):
    return [n for n, line in enumerate(lines, 1) if len(line) > width]


def _tokens(lines):
    try:
        return list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None


def _one_step(lines, width):
    """Shorten the first over-long line that can be shortened; None when none can."""
    tokens = _tokens(lines)
    if tokens is None:
        return None
    for index, line in enumerate(lines):
        if len(line) <= width or _MAGIC.match(line) or _MARKER.match(line):
            continue
        if "pass  # magic" in line:
            continue
        new = _shorten(lines, index, tokens, width)
        if new is not None:
            return new
    return None


def _shorten(lines, index, tokens, width):
    line = lines[index]
    row = index + 1
    on_line = [t for t in tokens if t.start[0] == row and t.type not in (
        tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)]
    if not on_line or any(t.start[0] != t.end[0] for t in on_line):
        return None  # a line inside a multi-line string: leave it
    indent = line[: len(line) - len(line.lstrip())]
    first = on_line[0]
    if first.type == tokenize.COMMENT:  # a whole-line comment
        text = first.string.lstrip("#").strip()
        if " " not in text:
            return None
        wrapped = textwrap.wrap(text, width - len(indent) - 2, break_long_words=False,
                                break_on_hyphens=False)
        if max(len(w) for w in wrapped) + len(indent) + 2 > width:
            return None
        return lines[:index] + [f"{indent}# {w}" for w in wrapped] + lines[index + 1:]
    comment = on_line[-1] if on_line[-1].type == tokenize.COMMENT else None
    code_end = len(line.rstrip()) if comment is None else len(line[: comment.start[1]].rstrip())
    shape_note = comment is not None and re.match(r"#\s*\(", comment.string)
    if comment is not None and code_end <= width and not shape_note \
            and not line.rstrip().endswith("\\"):
        # the code fits without its comment: the comment goes on its own line above
        code_tokens = [t for t in on_line if t.type != tokenize.COMMENT]
        lead = " " * code_tokens[0].start[1] if code_tokens else indent
        return (lines[:index] + [f"{lead}{comment.string}", line[: comment.start[1]].rstrip()]
                + lines[index + 1:])
    split = _split_column(tokens, row, on_line, width)
    if split is None:
        return None
    if split[0] == "string":  # "a b" -> "a " "b": the same string once parsed
        _, column, continuation, literal = split
        prefix, quote = re.match(r"([rRfFuU]{0,2})(['\"])", literal).groups()
        head = line[:column] + quote
        tail = prefix + quote + line[column:]
        return lines[:index] + [head, " " * continuation + tail] + lines[index + 1:]
    column, continuation = split
    head, tail = line[:column].rstrip(), line[column:].lstrip()
    return lines[:index] + [head, " " * continuation + tail] + lines[index + 1:]


def _split_column(tokens, row, on_line, width):
    """Where to break line ``row``: (column, indent of the continuation), or None.

    Inside brackets only (where a line break is free): after a comma, at the shallowest bracket
    depth that leaves the head within ``width`` (the continuation lines up under the bracket's
    content); else after an opening bracket (four spaces deeper than the line); else between
    two words of a one-line string literal, which Python joins back (same syntax tree)."""
    stack = []  # (row, col) of each open bracket
    for tok in tokens:
        if tok.start[0] >= row:
            break
        if tok.type == tokenize.OP and tok.string in "([{":
            stack.append(tok.start)
        elif tok.type == tokenize.OP and tok.string in ")]}":
            stack.pop()
    line_indent = on_line[0].start[1]
    commas, opens, strings = [], [], []
    unbreakable = []  # depths at which a `lambda` or `for` target is open (until `:` / `in`)
    subscripts = set()  # positions of the brackets that index (x[a, b])
    for i, tok in enumerate(on_line):
        nxt = on_line[i + 1] if i + 1 < len(on_line) else None
        last = nxt is None or nxt.string in ")]}" or nxt.type == tokenize.COMMENT
        if tok.type == tokenize.NAME and tok.string in ("lambda", "for"):
            unbreakable.append((len(stack), "in" if tok.string == "for" else ":"))
        elif unbreakable and unbreakable[-1][0] == len(stack) and tok.string == unbreakable[-1][1]:
            unbreakable.pop()
        if tok.type == tokenize.OP and tok.string in "([{":
            if tok.string == "[" and i and (on_line[i - 1].type == tokenize.NAME
                                            or on_line[i - 1].string in ")]"):
                subscripts.add(tok.start)
            stack.append(tok.start)
            if tok.end[1] <= width and not last and tok.start not in subscripts:
                opens.append((len(stack), tok.end[1], line_indent + 4))
        elif tok.type == tokenize.OP and tok.string in ")]}":
            if stack:
                stack.pop()
        elif tok.type == tokenize.OP and tok.string == "," and stack and tok.end[1] <= width \
                and not last and stack[-1] not in subscripts \
                and not any(depth == len(stack) for depth, _ in unbreakable):
            bracket_row, bracket_col = stack[-1]
            visual = bracket_col + 1 if bracket_row == row else line_indent
            commas.append((len(stack), tok.end[1], visual))
        elif tok.type == tokenize.STRING and stack and tok.start[1] < width < tok.end[1]:
            cut = _string_cut(tok.string, width - tok.start[1] - 1)
            if cut is not None:
                bracket_row, bracket_col = stack[-1]
                visual = bracket_col + 1 if bracket_row == row else line_indent
                strings.append((tok.start[1] + cut, visual, tok.string))
    if commas:
        depth = min(c[0] for c in commas)
        _, column, continuation = [c for c in commas if c[0] == depth][-1]
        if continuation > width // 2:
            continuation = line_indent + 4
        return column, continuation
    if opens:
        _, column, continuation = min(opens)
        return column, continuation
    if strings:
        column, continuation, literal = strings[0]
        return ("string", column, continuation, literal)
    return None


def _string_cut(literal: str, room: int):
    """Where to cut a one-line string literal (after a space, within ``room`` characters and
    outside any f-string braces), counted from its first character; None when it cannot be."""
    match = re.match(r"([rRfFuU]{0,2})(['\"])", literal)
    if not match or literal[len(match.group(1)):].startswith(match.group(2) * 3):
        return None  # no prefix we can repeat, or a triple-quoted string
    if "b" in match.group(1).lower():
        return None
    start = len(match.group(0))
    depth, cut = 0, None
    for i in range(start, min(room, len(literal) - 1)):
        ch = literal[i]
        if ch in "{}" and "f" in match.group(1).lower():
            depth += 1 if ch == "{" else -1
        elif ch == " " and depth == 0 and literal[i - 1] != "\\":
            cut = i + 1
        if ch == "}" and depth == 0 and "f" in match.group(1).lower() and literal[i + 1] != "}":
            cut = i + 1
    return cut if cut and cut > start else None


def wrap_notebook(path: Path, width: int = WIDTH, write: bool = False) -> dict:
    """Rewrap one notebook's code cells. Returns counts: lines over ``width`` before, lines
    changed, lines still over after; with ``write``, the notebook is saved (sources only)."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    over_before = changed = over_after = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        over_before += len(_too_long(source.split("\n"), width))
        new, still = wrap_code(source, width)
        over_after += len(still)
        if new != source:
            old_lines = source.split("\n")
            changed += sum(1 for line in old_lines if line not in set(new.split("\n")))
            cell["source"] = new.splitlines(keepends=True)
    if write and changed:
        indent = 1 if text.startswith("{\n \"") else 2
        out = json.dumps(notebook, indent=indent, ensure_ascii=False) + "\n"
        path.write_text(out, encoding="utf-8")
    return {"over": over_before, "changed": changed, "still_over": over_after}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("--write", action="store_true",
                        help="edit the notebooks (default: a dry run)")
    args = parser.parse_args(argv)
    totals = {"over": 0, "changed": 0, "still_over": 0}
    for path in args.notebooks:
        counts = wrap_notebook(path, args.width, args.write)
        totals = {k: totals[k] + counts[k] for k in totals}
        print(f"{path}: {counts['over']} lines over {args.width}, "
              f"{'changed' if args.write else 'would change'} {counts['changed']}, "
              f"{counts['still_over']} still over")
    print(f"total: {totals['over']} lines over {args.width}, "
          f"{'changed' if args.write else 'would change'} {totals['changed']}, "
          f"{totals['still_over']} still over")
    return 0


if __name__ == "__main__":
    sys.exit(main())
