"""What publishes the site and the package, checked where it cannot run: the GitHub workflows
(parsed; every `make` target they call exists), site_url, the README's claims, LICENSE in the
wheel, CITATION.cff's version, and `make browser` on a machine without Chromium."""
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

import minivision

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PAGES_URL = "https://minivision-org.github.io/minivision/"


def _workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _runs(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"]
            if "run" in step]


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {t for line in re.findall(r"^([A-Za-z][\w .-]*?):(?!=)", text, re.M)
            for t in line.split()}


@pytest.mark.parametrize("name", ["test.yml", "pages.yml"])
def test_each_make_target_a_workflow_calls_exists(name):
    targets = _make_targets()
    called = [t for run in _runs(_workflow(name)) for t in re.findall(r"\bmake ([\w-]+)", run)]
    assert called, f"{name} calls no make target"
    assert set(called) <= targets, f"{name} calls {set(called) - targets}, not in the Makefile"


def test_the_test_workflow_runs_make_test_on_pushes_and_pull_requests():
    workflow = _workflow("test.yml")
    assert "push" in workflow["on"] and "pull_request" in workflow["on"], workflow["on"]
    assert any(run.strip() == "make test" for run in _runs(workflow))
    # in CI the browser tests must run, not be skipped
    assert all(job.get("env", {}).get("CI") == "true" for job in workflow["jobs"].values())


def test_the_pages_workflow_publishes_the_site_and_the_student_notebooks():
    workflow = _workflow("pages.yml")
    assert workflow["on"]["push"]["branches"] == ["main"], workflow["on"]
    assert workflow["permissions"]["contents"] == "write"
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any(run.strip() == "make pages" for run in _runs(workflow))
    deploy = [s for s in steps if s.get("uses", "").startswith("peaceiris/actions-gh-pages@")]
    assert len(deploy) == 1 and deploy[0]["with"]["publish_dir"] == "./site"
    assert deploy[0]["with"]["publish_branch"] == "gh-pages"
    # `make pages` puts the student notebooks where the Colab links of the student versions
    # (blob/gh-pages/student/NN_name.ipynb) expect them
    dry = subprocess.run(["make", "-n", "pages"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "build/student/" in dry.stdout and "site/student/" in dry.stdout, dry.stdout


def test_site_url_is_the_pages_address():
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(rf"^site_url: {re.escape(PAGES_URL)}(\s|$)", config, re.M), "site_url"


def test_the_readme_names_the_ci_that_exists():
    readme = (ROOT / "README.md").read_text()
    for path in re.findall(r"\.github/workflows/[\w.-]+\.yml|\.ci/[\w.-]+", readme):
        assert (ROOT / path).is_file(), f"README names {path}, which does not exist"
    assert ".github/workflows/test.yml" in readme and PAGES_URL in readme


def test_license_changelog_and_citation():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    assert str(citation["version"]) == minivision.__version__, (
        "CITATION.cff's version is not minivision.__version__")


def test_the_wheel_ships_the_license(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("minivision-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(re.search(r"\.dist-info/(licenses/)?LICENSE$", n) for n in names), names


@pytest.mark.parametrize("ci, returncode, says", [("", 0, "warning"), ("true", 2, "error")])
def test_make_browser_without_chromium_or_apt_says_how_to_install_it(tmp_path, ci, returncode,
                                                                      says):
    (tmp_path / "id").symlink_to("/usr/bin/id")  # a PATH with neither chromium nor apt-get
    env = {"PATH": str(tmp_path), "CI": ci, "HOME": str(tmp_path)}
    result = subprocess.run(["/usr/bin/make", "-s", "browser"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == returncode, result
    assert result.stderr.startswith(says) and "install Chromium" in result.stderr, result.stderr


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout


def test_release_tag_tags_the_version_and_refuses_a_changed_library(tmp_path):
    """The install cells pin v<version>: the tag must exist, and must hold the library the site
    was built from (a changed library under an old tag would install an older one)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "minivision", repo / "minivision",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "Makefile", repo)
    shutil.copy(ROOT / "pyproject.toml", repo)
    _git(tmp_path, "init", "-q", str(repo))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    version = re.search(r'__version__ = "(.+)"', (repo / "minivision/__init__.py").read_text())[1]

    def release_tag():
        return subprocess.run(["make", "-s", "release-tag"], cwd=repo, capture_output=True,
                              text=True)

    first = release_tag()
    assert first.returncode == 0 and f"tagged v{version}" in first.stdout, first
    assert _git(repo, "tag", "--list").split() == [f"v{version}"]
    again = release_tag()
    assert again.returncode == 0 and "unchanged" in again.stdout, again
    (repo / "minivision" / "plot.py").write_text("# changed\n", encoding="utf-8")
    _git(repo, "commit", "-qam", "change the library, not the version")
    changed = release_tag()
    assert changed.returncode != 0 and "raise __version__" in changed.stderr, changed
