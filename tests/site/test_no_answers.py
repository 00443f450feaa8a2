"""The built site gives no answer away: its lesson pages are the student versions.

The lessons are the answer keys (their solutions and hidden tests sit between nbgrader's
markers). The site hook builds each lesson page, and the notebook its download button hands out,
from the student version instead: the tasks, the stubs and the checks, with the figures and
results of the lesson body, and a Colab badge that opens the student notebook published beside
the site (``student/`` on gh-pages). No page, download or search index may hold a marker or a
line of a solution or of a hidden test (only the instructor guide and the API reference of
`minivision.assignment` name the markers, to document them).
"""
import html
import json
import re
from pathlib import Path

import nbformat
import pytest

from minivision import lesson
from minivision.assignment import answer_lines, make_student

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_TAG = re.compile(r"<[^>]+>")

pytestmark = pytest.mark.skipif(not LESSONS, reason="no lessons/NN_*.ipynb yet")


def _page_lines(page: Path) -> set[str]:
    """The text lines of a page, as a reader sees them (the code is split into spans)."""
    text = html.unescape(_TAG.sub("", page.read_text(encoding="utf-8")))
    return {line.strip() for line in text.splitlines()}


# The two pages that document the markers for instructors (they hold no answer)
DOCUMENT_THE_MARKERS = ("instructor-guide/", "api/assignment/")


def _search_entries(site_dir: Path) -> list[dict]:
    return json.loads((site_dir / "search" / "search_index.json").read_text("utf-8"))["docs"]


def test_no_marker_anywhere_in_the_site(site_dir):
    found = []
    for path in site_dir.rglob("*"):
        rel = path.relative_to(site_dir).as_posix()
        if (path.suffix not in (".html", ".ipynb", ".js") or not path.is_file()
                or rel.startswith(DOCUMENT_THE_MARKERS)):
            continue
        text = path.read_text(encoding="utf-8")
        found += [(rel, marker) for marker in MARKERS if marker in text]
    for entry in _search_entries(site_dir):
        if not entry["location"].startswith(DOCUMENT_THE_MARKERS):
            found += [(entry["location"], m) for m in MARKERS if m in entry["text"]]
    assert not found, f"answer markers in the built site: {found[:5]}"


@pytest.mark.parametrize("notebook", LESSONS, ids=[path.stem for path in LESSONS])
def test_lesson_page_and_download_hold_no_answer(site_dir, notebook):
    key = nbformat.read(notebook, as_version=4)
    secret = answer_lines(key)
    assert secret, f"{notebook.name}: no solution lines to look for"
    folder = site_dir / "lessons" / notebook.stem
    shown = _page_lines(folder / "index.html")
    leaked = sorted(secret & shown)
    assert not leaked, f"{notebook.name}: solution lines on its page: {leaked[:3]}"

    download = nbformat.read(folder / notebook.name, as_version=4)
    lines = {line.strip() for cell in download.cells for line in cell.source.splitlines()}
    assert not sorted(secret & lines), f"{notebook.name}: the download is the answer key"
    assert "raise NotImplementedError()" in lines, f"{notebook.name}: no stub in the download"

    search = "\n".join(entry["text"] for entry in _search_entries(site_dir)
                       if entry["location"].startswith(f"lessons/{notebook.stem}/"))
    words = {line for line in secret if len(line) > 30}  # long lines: no accidental matches
    found = [line for line in words if line in search]
    assert not found, f"{notebook.name}: in the search index: {found[:3]}"


@pytest.mark.parametrize("notebook", LESSONS, ids=[path.stem for path in LESSONS])
def test_lesson_page_keeps_the_lesson_and_links_the_student_notebook(site_dir, notebook):
    student, _ = make_student(nbformat.read(notebook, as_version=4))
    page = (site_dir / "lessons" / notebook.stem / "index.html").read_text(encoding="utf-8")
    figures = sum(1 for cell in student.cells for out in cell.get("outputs", [])
                  if "image/png" in out.get("data", {}))
    shown = len(re.findall(r"<img\b[^>]*\bsrc=\"[^\"]*fig-[0-9a-f]+\.png\"", page))
    assert shown == figures, f"{notebook.name}: {shown} figures on the page, {figures} stored"
    assert "YOUR CODE HERE" in page and "check_exercise" in page  # stubs and checks shown
    links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page))
    assert links == {lesson.student_colab_url(notebook.name)}, links
