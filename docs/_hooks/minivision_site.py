"""MkDocs hooks for the minivision site (listed under ``hooks:`` in mkdocs.yml).

They keep the site in step with the repository without hand edits, and keep every page local:

1. The notebooks live in the top-level ``lessons/`` folder, outside ``docs/``. ``on_files`` adds
   each ``lessons/NN_*.ipynb`` to the site (as ``lessons/NN_*/``) before mkdocs-jupyter sees the
   files, and ``on_config`` lists them under "Lessons" in the navigation, in number order.
2. The lesson map on the home page is a Markdown table whose first column is the lesson number;
   ``on_page_markdown`` links each row whose notebook exists and marks the others "coming", so
   the strict build never meets a link to a lesson not yet written.
3. Each lesson page gets a "download the notebook" button (``on_page_content``). The pages and
   the downloads are the lessons' student versions (``_student_lessons``): no solutions, no
   hidden tests.
4. No page may make a request that leaves the server: ``on_page_content`` swaps the Colab badge
   image a notebook names (colab.research.google.com) for the copy in ``docs/assets/``, then
   fails the build on any other ``src=`` that points off the site. ``on_post_build`` copies
   MathJax, which mkdocs-jupyter loads for the notebooks' equations, from the
   ``jupyter-server-mathjax`` package into ``site/assets/mathjax/`` (no CDN).
5. Lesson pages stay light and readable (``_lesson_page``): the CSS and JavaScript that
   mkdocs-jupyter inlines into every lesson (about 590 KB, the same each time) are written once
   to ``assets/notebook/`` and linked; each plot, inlined as base64, becomes a PNG file beside
   its page that carries its natural width (the site's CSS keeps it at >= 70% of it); cell tags
   are dropped; and a table-of-contents entry whose anchor mkdocs-jupyter spelled differently
   from the heading's id (a heading with `code` in it) is pointed at the heading.
"""
import base64
import hashlib
import io
import logging
import re
import shutil
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.plugins.minivision_site")

LESSONS = "lessons"
BADGE_REMOTE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_LOCAL = "assets/colab-badge.svg"
MATHJAX_DEST = "assets/mathjax"
_UNSHIPPED_FONT_MACROS = ("\\mathbb", "\\mathcal")  # the two seen to request a TeX font
DOWNLOAD = (
    '<a href="{name}" download class="md-content__button md-icon" title="Download {name}">'
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
    '<path d="M5 20h14v-2H5m14-9h-4V3H9v6H5l7 7 7-7Z"/></svg></a>'
)
NOTEBOOK_ASSETS = "assets/notebook"
_INLINE_STYLE = re.compile(r'<style type="text/css">(.*?)</style>', re.DOTALL)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_INLINE_IMAGE = re.compile(
    r'<img\b([^>]*?)\bsrc="data:image/(png|jpeg|gif);base64,([A-Za-z0-9+/=\s]+)"([^>]*)>')
_CELL_TAGS = re.compile(r'<div class="celltoolbar">.*?</span>\s*</div>\s*</div>', re.DOTALL)
_ROW = re.compile(r"^\|\s*(\d\d)\s*\|\s*([^|]*?)\s*\|")
_EXTERNAL_SRC = re.compile(r"""\bsrc\s*=\s*["']((?:https?:)?//[^"']+)["']""", re.IGNORECASE)


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def _lessons(config) -> list[Path]:
    """The lesson notebooks, ``lessons/NN_name.ipynb``, in number order."""
    return sorted((_root(config) / LESSONS).glob("[0-9][0-9]_*.ipynb"))


def on_config(config):
    lessons = [f"{LESSONS}/{path.name}" for path in _lessons(config)]
    for item in config.nav or []:
        if isinstance(item, dict) and "Lessons" in item:
            item["Lessons"] = lessons or [{"Coming soon": "index.md"}]
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the notebooks into pages
def on_files(files, config):
    student_root = _student_lessons(config)  # the pages show the student versions
    for path in _lessons(config):
        uri = f"{LESSONS}/{path.name}"
        if files.get_file_from_path(uri) is None:
            files.append(
                File(uri, src_dir=str(student_root), dest_dir=config.site_dir,
                     use_directory_urls=config.use_directory_urls)
            )
    return files


# ---- student versions on the site (issue 19; owner: minivision/assignment.py) ------------------
STUDENT_BUILD = "build/site-student"


def _student_lessons(config) -> Path:
    """Write the student version of every lesson under ``build/site-student/lessons/``.

    The lessons are the answer keys: a page must not show their solutions or hidden tests. Each
    lesson page is made from its student version instead (``minivision assignment``: tasks,
    stubs and checks; the figures and results of the lesson body kept; the Colab badge opening
    the student notebook that the publishing workflow puts in ``student/`` on gh-pages), and its
    download button hands out that version too.

    Returns:
        The folder to read the lesson pages from (it holds ``lessons/NN_name.ipynb``).
    """
    from minivision.assignment import write_student

    root = Path(_root(config)) / STUDENT_BUILD
    shutil.rmtree(root / LESSONS, ignore_errors=True)
    for path in _lessons(config):
        write_student(path, root / LESSONS)
    return root
# ---- end of the student versions ----------------------------------------------------------------


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != "index.md":
        return markdown
    existing = {path.name[:2]: path.name for path in _lessons(config)}
    lines = []
    for line in markdown.splitlines():
        match = _ROW.match(line)
        if match:
            number, title = match.groups()
            if number in existing:
                cell = f"[{title}]({LESSONS}/{existing[number]})"
            else:
                cell = f"{title} *(coming)*"
            line = line[: match.start(2)] + cell + line[match.end(2):]
        lines.append(line)
    return "\n".join(lines)


def on_page_content(html, page, config, files):
    local_badge = get_relative_url(BADGE_LOCAL, page.url)
    html = html.replace(BADGE_REMOTE, local_badge)
    if page.file.src_uri.endswith(".ipynb"):
        # mkdocs-jupyter copies the notebook beside the page (include_source); link to it the way
        # Material shows its page actions, top right
        name = Path(page.file.src_uri).name
        html = DOWNLOAD.format(name=name) + html
        html = _lesson_page(html, page, config)
    for macro in _UNSHIPPED_FONT_MACROS:
        if macro in html:
            # with the STIX-Web set we ship, MathJax still requests its TeX fonts for these
            # alphabets (AMS for \mathbb, Script for \mathcal), which are not shipped: the page
            # logs a 404 (seen in the browser test)
            log.warning("%s uses %s, whose font the site does not ship: write plain letters or "
                        "\\mathbf / \\mathrm instead", page.file.src_uri, macro)
    for url in _EXTERNAL_SRC.findall(html):
        log.warning(
            "%s loads %s from outside the site: serve the file from docs/assets/ instead "
            "(the site must work offline)", page.file.src_uri, url
        )
    return html


def _lesson_page(html: str, page, config) -> str:
    """A lesson page as mkdocs-jupyter made it -> the same page, light and readable (point 5)."""
    html = _CELL_TAGS.sub("", html)
    html = _INLINE_STYLE.sub(lambda m: _shared_file(m.group(1), "css", page, config), html)
    html = _INLINE_SCRIPT.sub(
        lambda m: _shared_file(m.group(1), "js", page, config) if len(m.group(1)) > 1024
        else m.group(0), html)
    html = _INLINE_IMAGE.sub(lambda m: _image_file(m, page, config), html)
    _repair_toc(page, html)
    return html


def _shared_file(text: str, kind: str, page, config) -> str:
    """Write an inlined style sheet or script once, named by its content; link it instead."""
    uri = f"{NOTEBOOK_ASSETS}/{hashlib.sha256(text.encode()).hexdigest()[:16]}.{kind}"
    path = Path(config.site_dir) / uri
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    url = get_relative_url(uri, page.url)
    if kind == "css":
        return f'<link rel="stylesheet" href="{url}">'
    return f'<script src="{url}"></script>'


def _image_file(match, page, config) -> str:
    """An ``<img src="data:...">`` -> a file beside the page, with its natural size stated."""
    from PIL import Image

    before, kind, data, after = match.groups()
    raw = base64.b64decode(re.sub(r"\s", "", data))
    width, height = Image.open(io.BytesIO(raw)).size
    attrs = before + after
    stated = re.search(r'\bwidth="(\d+)', attrs)
    if stated:  # a retina figure says the width it should be shown at
        height = round(height * int(stated.group(1)) / width)
        width = int(stated.group(1))
        attrs = re.sub(r'\s(width|height)="[^"]*"', "", attrs)
    attrs = attrs.rstrip("/ ")
    ext = {"jpeg": "jpg"}.get(kind, kind)
    name = f"fig-{hashlib.sha256(raw).hexdigest()[:12]}.{ext}"
    uri = f"{Path(page.file.dest_uri).parent.as_posix()}/{name}"
    path = Path(config.site_dir) / uri
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return (f'<img{attrs} src="{get_relative_url(uri, page.url)}" width="{width}" '
            f'height="{height}" style="--mv-natural-width: {width}px" loading="lazy"/>')


def _repair_toc(page, html: str) -> None:
    """Point each table-of-contents entry at a heading that exists.

    mkdocs-jupyter builds the table of contents from a Markdown copy of the notebook, where
    a heading such as "Four strategies, one switch: `requires_grad`" loses its code, while the
    page's heading id keeps it: the entry would lead nowhere. Such an entry is pointed at the
    first unused heading id that starts with its own; one with no candidate fails the build.
    """
    ids = re.findall(r'<h[1-6][^>]*\sid="([^"]+)"', html)
    used = set()

    def walk(items):
        for item in items:
            if item.id not in ids:
                candidates = [i for i in ids if i.startswith(item.id) and i not in used]
                if candidates:
                    item.id = candidates[0]
                else:
                    log.warning("%s: the table of contents links to #%s, which is not on the page",
                                page.file.src_uri, item.id)
            used.add(item.id)
            walk(item.children)

    walk(page.toc or [])


def on_post_build(config):
    try:
        import jupyter_server_mathjax
    except ImportError:
        log.warning(
            "jupyter-server-mathjax is not installed, so the lessons' equations will not render: "
            "install the docs extra, pip install -e '.[docs]'"
        )
        return
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = Path(config.site_dir) / MATHJAX_DEST
    if not (dest / "MathJax.js").is_file():
        shutil.copytree(source, dest, dirs_exist_ok=True)
