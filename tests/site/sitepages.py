"""What the browser tests share: the widths every page is checked at, and the list of pages."""
from pathlib import Path

# A laptop and a phone, in CSS pixels.
WIDTHS = {"laptop": 1280, "phone": 390}
# Lines of lesson code are at most this long (STYLE.md: 88 in lesson cells); the content column
# shows them whole at 1280 px (test_layout.py measures it; test_code_width.py checks the sources).
CODE_COLUMNS = 88


def site_pages(site_dir: Path) -> list[str]:
    """Every HTML page of the site, as a path relative to its root ('' for the home page)."""
    paths = []
    for html in sorted(site_dir.rglob("index.html")):
        rel = html.parent.relative_to(site_dir).as_posix()
        if rel.startswith(("assets", "student")) or rel == "search":
            continue
        paths.append("" if rel == "." else rel + "/")
    return paths
