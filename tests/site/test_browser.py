"""The docs site in a real browser: every page loads cleanly and offline, plots render, the
navigation reaches every lesson, search finds a lesson, and each Colab badge opens its notebook."""
import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from sitepages import site_pages

from minivision import lesson

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))


def visit(browser, url: str):
    """Open ``url``; returns (page, console errors, requests that tried to leave 127.0.0.1)."""
    context = browser.new_context()
    errors, outside = [], []
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def route(request_route):
        request = request_route.request
        if urlparse(request.url).hostname == "127.0.0.1":
            request_route.continue_()
        else:
            outside.append(request.url)
            request_route.abort()

    context.route("**/*", route)
    page.goto(url, wait_until="networkidle")
    return page, errors, outside


def test_the_site_has_a_page_per_lesson(site_dir):
    pages = site_pages(site_dir)
    assert "" in pages and "installation/" in pages and "instructor-guide/" in pages, pages
    for notebook in LESSONS:
        assert f"lessons/{notebook.stem}/" in pages, f"no page for {notebook.name}: {pages}"


def test_every_page_loads_offline_without_errors_and_with_its_plots(reports):
    """At both widths (the `reports` fixture loads each page once per width)."""
    problems = []
    for (width, path), r in sorted(reports.items()):
        where = f"{width}: {path or 'home'}"
        if r["errors"]:
            problems.append(f"{where}: console errors {r['errors']}")
        if r["outside"]:
            problems.append(f"{where}: requests leaving 127.0.0.1 {r['outside']}")
        broken = [f["src"] for f in r["figures"] if not f["loaded"]]
        if broken:
            problems.append(f"{where}: images that did not load {broken}")
    assert not problems, "\n".join(problems)


def test_navigation_reaches_every_lesson(reports, base_url):
    hrefs = reports[("laptop", "")]["navLinks"]
    for notebook in LESSONS:
        target = urljoin(base_url, f"lessons/{notebook.stem}/")
        assert target in hrefs, f"the navigation has no link to {notebook.stem}: {hrefs}"
        title = reports[("laptop", f"lessons/{notebook.stem}/")]["title"]
        assert title.startswith(f"{notebook.name[:2]} "), (notebook.name, title)


@pytest.mark.parametrize("word, notebook", [("GradScaler", "00_setup")])
def test_search_finds_a_lesson_by_a_word_in_it(browser, base_url, word, notebook):
    page, _, _ = visit(browser, base_url)
    box = page.locator("input.md-search__input")
    box.click()  # the search box of the header (desktop width)
    box.press_sequentially(word, delay=20)  # typed, as a reader would
    results = page.locator(".md-search-result__item a")
    results.first.wait_for(timeout=15_000)
    hrefs = results.evaluate_all("as => as.map(a => a.href)")
    page.context.close()
    assert any(f"lessons/{notebook}/" in href for href in hrefs), hrefs


def test_each_colab_badge_points_to_its_own_notebook(reports):
    for notebook in LESSONS:
        links = reports[("laptop", f"lessons/{notebook.stem}/")]["colab"]
        assert len(links) == 1, f"{notebook.name}: expected one Colab badge, found {links}"
        href, image = links[0]["href"], links[0]["image"]
        # the site shows the student version, whose badge opens the student notebook
        expected = lesson.student_colab_url(notebook.name)
        assert href == expected, (href, expected)
        assert urlparse(image).hostname == "127.0.0.1", f"the badge image is remote: {image}"
        assert re.search(r"assets/colab-badge\.svg$", image), image
