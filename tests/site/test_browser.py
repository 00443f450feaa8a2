"""The docs site in a real browser: every page loads cleanly and offline, plots render, the
navigation reaches every lesson, search finds a lesson, and each Colab badge opens its notebook."""
import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from minivision import lesson

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))


def page_paths(site_dir: Path) -> list[str]:
    """Every HTML page of the site, as a path relative to its root ('' for the home page)."""
    paths = []
    for html in sorted(site_dir.rglob("index.html")):
        rel = html.parent.relative_to(site_dir).as_posix()
        if rel.startswith("assets") or rel == "search":
            continue
        paths.append("" if rel == "." else rel + "/")
    return paths


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
    pages = page_paths(site_dir)
    assert "" in pages and "installation/" in pages and "instructor-guide/" in pages, pages
    for notebook in LESSONS:
        assert f"lessons/{notebook.stem}/" in pages, f"no page for {notebook.name}: {pages}"


def test_every_page_loads_offline_without_errors_and_with_its_plots(browser, base_url, site_dir,
                                                                  artifacts):
    problems = []
    for path in page_paths(site_dir):
        page, errors, outside = visit(browser, base_url + path)
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                   ".map(i => i.src.slice(0, 80))")
        plots = page.eval_on_selector_all("img[src^='data:image/png']", "imgs => imgs.length")
        if errors:
            problems.append(f"{path or 'home'}: console errors {errors}")
        if outside:
            problems.append(f"{path or 'home'}: requests leaving 127.0.0.1 {outside}")
        if broken:
            problems.append(f"{path or 'home'}: images that did not load {broken}")
        if path.startswith("lessons/") and plots == 0:
            problems.append(f"{path}: a lesson page without a single rendered plot")
        if path == "":
            page.screenshot(path=str(artifacts / "home.png"), full_page=False)
        if path == "lessons/00_setup/":
            page.screenshot(path=str(artifacts / "lesson-00.png"), full_page=False)
        page.context.close()
    assert not problems, "\n".join(problems)
    assert (artifacts / "home.png").is_file() and (artifacts / "lesson-00.png").is_file()


def test_navigation_reaches_every_lesson(browser, base_url):
    page, _, _ = visit(browser, base_url)
    hrefs = page.eval_on_selector_all("nav a.md-nav__link[href]", "as => as.map(a => a.href)")
    page.context.close()
    for notebook in LESSONS:
        target = urljoin(base_url, f"lessons/{notebook.stem}/")
        assert target in hrefs, f"the navigation has no link to {notebook.stem}: {hrefs}"
        lesson_page, _, _ = visit(browser, target)
        title = lesson_page.locator("h1").first.inner_text()
        lesson_page.context.close()
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


def test_each_colab_badge_points_to_its_own_notebook(browser, base_url):
    for notebook in LESSONS:
        page, _, _ = visit(browser, urljoin(base_url, f"lessons/{notebook.stem}/"))
        links = page.eval_on_selector_all(
            "a[href*='colab.research.google.com']",
            "as => as.map(a => [a.href, a.querySelector('img') ? a.querySelector('img').src : ''])")
        page.context.close()
        assert len(links) == 1, f"{notebook.name}: expected one Colab badge, found {links}"
        href, image = links[0]
        assert href == lesson.colab_url(notebook.name), (href, lesson.colab_url(notebook.name))
        assert urlparse(image).hostname == "127.0.0.1", f"the badge image is remote: {image}"
        assert re.search(r"assets/colab-badge\.svg$", image), image
