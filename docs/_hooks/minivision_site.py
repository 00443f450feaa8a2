"""MkDocs hooks for the minivision site (listed under ``hooks:`` in mkdocs.yml).

They keep the site in step with the repository without hand edits, and keep every page local:

1. The notebooks live in the top-level ``lessons/`` folder, outside ``docs/``. ``on_files`` adds
   each ``lessons/NN_*.ipynb`` to the site (as ``lessons/NN_*/``) before mkdocs-jupyter sees the
   files, and ``on_config`` lists them under "Lessons" in the navigation, in number order.
2. The lesson map on the home page is a Markdown table whose first column is the lesson number;
   ``on_page_markdown`` links each row whose notebook exists and marks the others "coming", so
   the strict build never meets a link to a lesson not yet written.
3. Each lesson page gets a "download the notebook" button (``on_page_content``).
4. No page may make a request that leaves the server: ``on_page_content`` swaps the Colab badge
   image a notebook names (colab.research.google.com) for the copy in ``docs/assets/``, then
   fails the build on any other ``src=`` that points off the site. ``on_post_build`` copies
   MathJax, which mkdocs-jupyter loads for the notebooks' equations, from the
   ``jupyter-server-mathjax`` package into ``site/assets/mathjax/`` (no CDN).
"""
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
    root = _root(config)
    for path in _lessons(config):
        uri = f"{LESSONS}/{path.name}"
        if files.get_file_from_path(uri) is None:
            files.append(
                File(uri, src_dir=str(root), dest_dir=config.site_dir,
                     use_directory_urls=config.use_directory_urls)
            )
    return files


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
