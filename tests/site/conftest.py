"""Fixtures for the browser test: the site built strictly into a temp folder, served on
127.0.0.1, and Debian's Chromium driven headless by Playwright (no `playwright install`)."""
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sitepages import WIDTHS, site_pages

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = (os.environ.get("CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))
# The flags that work on a machine with no internet (../shared/SETUP.md): no background traffic,
# and every host name except 127.0.0.1 resolves to nothing.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-dev-shm-usage",  # Docker's 64 MB /dev/shm (CI's container) is too small
]


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory) -> Path:
    """`mkdocs build --strict` into a temp folder: any warning fails the build, and the test.

    With MINIVISION_SITE set (`make test-site` sets it to the site `make site` has just built
    strictly), that folder is tested instead of building a second time."""
    if os.environ.get("MINIVISION_SITE"):
        built = Path(os.environ["MINIVISION_SITE"]).resolve()
        assert (built / "index.html").is_file(), f"MINIVISION_SITE={built} holds no built site"
        return built
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"strict site build failed:\n{result.stdout}\n{result.stderr}"
    return out


@pytest.fixture(scope="session")
def base_url(site_dir):
    """The built site served on 127.0.0.1 (a free port) for the whole session."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        how = ("no Chromium on this machine: `make browser` installs Debian's package, or "
               "install Chromium yourself and set CHROMIUM=/path/to/chromium")
        if os.environ.get("CI"):  # never skipped silently in CI
            pytest.fail(how)
        pytest.skip(how)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/, with the screenshots of earlier runs removed (a page that no longer
    exists must not leave its old screenshot behind)."""
    shutil.rmtree(ARTIFACTS / "screenshots", ignore_errors=True)
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


MEASURE_JS = (Path(__file__).parent / "measure.js").read_text()


@pytest.fixture(scope="session")
def reports(browser, base_url, site_dir, artifacts) -> dict:
    """Each page measured by measure.js at each width, with the console errors and the requests
    that tried to leave 127.0.0.1; a screenshot of each at each width goes to
    test-artifacts/screenshots/ (kept out of the repository by .gitignore).

    Returns {(width name, path): {"errors": [...], "outside": [...], **measure.js's report}}.
    To stay cheap in CI, each page loads once, in one browser, a few tabs side by side: it is
    measured at the laptop's width, then the viewport is narrowed to the phone's and it is
    measured again (the layout is CSS media queries and Material's resize handler; no equation
    or figure depends on the width it was loaded at)."""
    out = {}
    paths = site_pages(site_dir)
    shots = artifacts / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": WIDTHS["laptop"], "height": 900})
    for start in range(0, len(paths), TABS):
        batch = [(context.new_page(), path) for path in paths[start:start + TABS]]
        logs = {}
        for tab, path in batch:
            logs[path] = _listen(tab)
            tab.goto(base_url + path, wait_until="commit")  # the tabs load side by side
        for tab, path in batch:
            tab.wait_for_load_state("load")
            for name, width in WIDTHS.items():
                tab.set_viewport_size({"width": width, "height": 900})
                out[(name, path)] = {**logs[path], **tab.evaluate(MEASURE_JS)}
                slug = (path.strip("/").replace("/", "-") or "home") + f"-{width}.jpg"
                tab.screenshot(path=str(shots / slug), type="jpeg", quality=70)  # the first screen
            tab.wait_for_load_state("networkidle")  # errors logged late (a missing font)
            tab.close()
    context.close()
    return out


TABS = 3  # pages loading at once


def _listen(tab) -> dict:
    """Collect a tab's console errors and any request that tries to leave 127.0.0.1."""
    from urllib.parse import urlparse

    log = {"errors": [], "outside": []}
    tab.on("console", lambda msg: log["errors"].append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: log["errors"].append(str(exc)))
    tab.on("request", lambda req: log["outside"].append(req.url)
           if urlparse(req.url).hostname not in ("127.0.0.1", None) else None)
    return log


def pytest_collection_modifyitems(items):
    """Under pytest-xdist, every site test runs on one worker, so the site is built once."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.xdist_group("site"))
