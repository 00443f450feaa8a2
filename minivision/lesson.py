"""Helpers the lesson notebooks share: quick mode, Colab links, settings and hardware lines.

What a lesson shares with every other run (the seed, the device, the precision, the progress bar)
is in :mod:`minivision.runtime`; :func:`hardware` reads the machine through it too.

Every lesson reads one switch, the environment variable ``MINIVISION_QUICK``: set to ``1`` it
shrinks data and steps so the whole notebook runs in about a minute on a CPU (that is how CI runs
the lessons under nbval); unset, a lesson runs at the full settings its stored outputs come from.

The repository's address lives here and nowhere else (``REPO_URL``): the "Open in Colab" badge of
every lesson and its install cell must point at it, and a test checks that they do. The first code
cell of every lesson is :func:`install_cell` of that lesson, written from ``minivision.__version__``
and the extras the lesson needs (:data:`LESSON_EXTRAS`); after a version bump or a change of
extras, rewrite them with :func:`write_install_cells`.

Example, the setup cell of a lesson::

    from minivision import lesson

    QUICK = lesson.quick_mode()
    SETTINGS = lesson.by_mode(quick=dict(epochs=1, train_size=512),
                              full=dict(epochs=10, train_size=10_000))
    print(lesson.format_settings(SETTINGS))
"""
import json
import os
import platform
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .runtime import cpu_name, mps_available

REPO_URL = "https://github.com/minivision-org/minivision"
"""The project's repository: the one place that holds it (badges and install cells follow it)."""

BRANCH = "main"
"""The branch whose notebooks the Colab badges open."""

LESSONS_DIR = "lessons"
"""Where the notebooks live inside the repository."""

QUICK_ENV = "MINIVISION_QUICK"
"""The environment variable that turns quick mode on (``1``) or off (unset, ``0``)."""

COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
"""The badge image a notebook names; the docs site swaps in its own copy, so no page fetches it."""

LESSON_EXTRAS = {
    "03": ("timm", "transformers"),  # section 11 imports timm and Hugging Face models
    "05": ("transformers",),  # writes a Hugging Face checkpoint, then reads it with load_hf
    "10": ("multimodal",),  # BLIP (transformers) and CLIP (open_clip) via minivision.text
}
"""The extras of pyproject.toml that a lesson installs beyond the core, by lesson number."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def quick_mode() -> bool:
    """Whether lessons should run at their quick settings (``MINIVISION_QUICK=1``).

    Returns:
        True when the variable is ``1``/``true``/``yes``/``on``, False when it is unset or
        ``0``/``false``/``no``/``off`` (case does not matter).

    Raises:
        ValueError: for any other value, so that a typo does not silently run the full lesson.
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{QUICK_ENV}={os.environ[QUICK_ENV]!r} is not understood: expected 1 (quick mode) or 0 / "
        f"unset (full settings). Set it with `export {QUICK_ENV}=1` or unset it."
    )


def by_mode(*, quick: Any, full: Any) -> Any:
    """Pick the quick or the full value of a setting according to :func:`quick_mode`.

    Args:
        quick: the value used when ``MINIVISION_QUICK=1`` (CI, a first look on a CPU).
        full: the value the lesson's stored outputs were computed with.

    Returns:
        ``quick`` in quick mode, else ``full``.
    """
    return quick if quick_mode() else full


def in_colab() -> bool:
    """Whether the code runs inside Google Colab (its ``google.colab`` module is loaded)."""
    return "google.colab" in sys.modules


def notebook_path(notebook: str) -> str:
    """The path of a lesson inside the repository, e.g. ``lessons/00_setup.ipynb``.

    Args:
        notebook: a lesson's file name (``00_setup.ipynb``) or a path ending in it.
    """
    name = Path(notebook).name
    if not name.endswith(".ipynb"):
        raise ValueError(f"expected a notebook file name ending in .ipynb, got {notebook!r}")
    return f"{LESSONS_DIR}/{name}"


def colab_url(notebook: str) -> str:
    """The address that opens a lesson from the repository in Google Colab.

    Args:
        notebook: a lesson's file name (``00_setup.ipynb``) or a path ending in it.

    Returns:
        ``https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/lessons/NAME.ipynb``.
    """
    owner_repo = REPO_URL.removeprefix("https://github.com/").strip("/")
    path = notebook_path(notebook)
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{path}"


def colab_badge(notebook: str) -> str:
    """The Markdown of a lesson's "Open in Colab" badge (paste it into the lesson's first cell)."""
    return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(notebook)})"


STUDENT_BRANCH = "gh-pages"
"""The branch the site is published on; its ``student/`` folder holds the student notebooks."""

STUDENT_DIR = "student"
"""Where the published site keeps the student notebooks (``make student`` writes them)."""


def student_colab_url(notebook: str) -> str:
    """The address that opens a lesson's student version (no solutions) in Google Colab.

    The publishing workflow writes the student notebooks (``minivision assignment``) to
    ``student/`` on the ``gh-pages`` branch, beside the site; the student version's badge and the
    site's lesson pages link here instead of to the lesson, which is the answer key.

    Args:
        notebook: a lesson's file name (``00_setup.ipynb``) or a path ending in it.

    Returns:
        ``https://colab.research.google.com/github/OWNER/REPO/blob/gh-pages/student/NAME.ipynb``.
    """
    owner_repo = REPO_URL.removeprefix("https://github.com/").strip("/")
    name = Path(notebook_path(notebook)).name
    return (f"https://colab.research.google.com/github/{owner_repo}/blob/{STUDENT_BRANCH}/"
            f"{STUDENT_DIR}/{name}")


def release_tag() -> str:
    """The git tag of this version, ``v`` + ``minivision.__version__`` (e.g. ``v0.1.0``)."""
    from minivision import __version__

    return f"v{__version__}"


def pip_install_spec(extras: Sequence[str] = ()) -> str:
    """What an install cell installs: this version of minivision, from its tag, with extras.

    Args:
        extras: names of optional-dependency groups of pyproject.toml, e.g. ``("timm",)``.

    Returns:
        e.g. ``"minivision[timm] @ git+https://github.com/OWNER/REPO@v0.1.0"``.
    """
    names = f"[{','.join(extras)}]" if extras else ""
    return f"minivision{names} @ git+{REPO_URL}@{release_tag()}"


def _release(version: str) -> tuple[int, ...]:
    """``"4.40"`` -> ``(4, 40)``: the numbers an install cell compares (at most three)."""
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3]) or (0,)


def extra_requirements(extras: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """The distributions that extras of minivision bring, with their oldest release.

    They are read from the checkout's pyproject.toml (install cells are written from a checkout of
    the repository: the tag they pin holds the same file).

    Args:
        extras: names of optional-dependency groups, e.g. ``("multimodal",)``.

    Returns:
        distribution name -> oldest release it accepts, e.g. ``{"timm": (0, 9)}`` for
        ``timm>=0.9`` (``(0,)``: any release).

    Raises:
        ValueError: an extra that minivision does not declare.
    """
    import tomllib  # Python 3.11+; only a checkout writes install cells

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    groups = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    found = {}
    for extra, requirements in groups.items():
        found[extra] = {}
        for line in requirements:
            name, bound = re.match(r"([A-Za-z0-9._-]+)\s*(?:>=\s*([0-9.]+))?", line).groups()
            found[extra][name] = _release(bound or "0")
    unknown = [extra for extra in extras if extra not in found]
    if unknown:
        raise ValueError(f"minivision declares no extras {unknown}; it has {sorted(found)}")
    return {name: bound for extra in extras for name, bound in found[extra].items()}


def lesson_extras(notebook: str) -> tuple[str, ...]:
    """The extras a lesson installs (:data:`LESSON_EXTRAS`), from its file name."""
    return LESSON_EXTRAS.get(Path(notebook).name[:2], ())


def install_cell(notebook: str) -> str:
    """The source of a lesson's first code cell: install what the lesson needs if it is missing.

    The cell installs minivision at this version's tag, with the lesson's extras, when minivision
    or one of the extras' packages is missing or older than required (Colab, a new Jupyter, a
    course's JupyterHub), and says so; where all of it is installed it installs nothing and prints
    one line saying that.

    Args:
        notebook: a lesson's file name (``03_vit_anatomy.ipynb``) or a path ending in it.
    """
    from minivision import __version__

    extras = lesson_extras(notebook)
    needs = {"minivision": _release(__version__), **extra_requirements(extras)}
    name, url = pip_install_spec(extras).split(" @ ")
    if extras:
        header = [f"# Installs minivision {__version__} (the version of this page) and what this "
                  "lesson imports",
                  "# beyond it, when missing or older than in NEEDS; otherwise it changes nothing."]
    else:
        header = [f"# Installs minivision {__version__} (the version of this page) when it is "
                  "missing or older",
                  "# than in NEEDS; otherwise it changes nothing."]
    return "\n".join([
        *header,
        "import re",
        "from importlib.metadata import PackageNotFoundError, version",
        "",
        f'SPEC = ("{name} @ "',
        f'        "{url}")',
        *_needs_lines(needs),
        *_INSTALL_CELL_BODY,
    ])


def _needs_lines(needs: dict[str, tuple[int, ...]]) -> list[str]:
    """The install cell's ``NEEDS = {package: oldest release, ...}``, wrapped to the 88 columns
    of a lesson cell."""
    entries = [f'"{package}": {oldest}' for package, oldest in needs.items()]
    lines = [f"NEEDS = {{{entries[0]}"]
    for entry in entries[1:]:
        if len(lines[-1]) + len(entry) + 4 > 88:
            lines[-1] += ","
            lines.append(" " * 9 + entry)
        else:
            lines[-1] += f", {entry}"
    lines[-1] += "}"
    return lines


_INSTALL_CELL_BODY = (  # the same in every lesson: compare NEEDS with what is installed
    "",
    "",
    "def missing() -> list[str]:  # the packages of NEEDS not installed, or older",
    "    gaps = []",
    "    for package, oldest in NEEDS.items():",
    "        try:",
    '            release = tuple(int(n) for n in re.findall(r"\\d+", version(package))[:3])',
    "        except PackageNotFoundError:",
    "            release = ()  # not installed",
    "        if release < oldest:",
    "            gaps.append(package)",
    "    return gaps",
    "",
    "",
    "if gaps := missing():",
    '    %pip install -q "{SPEC}"',
    "    assert not missing(), "
    """f"not installed: {', '.join(missing())} (see pip's message)\"""",
    """    print(f"installed {SPEC} ({', '.join(gaps)} missing or older)")""",
    "else:",
    """    print(f"already installed: {', '.join(NEEDS)}")""",
)


def install_message(notebook: str) -> str:
    """What a lesson's install cell prints where everything it needs is installed."""
    packages = ["minivision", *extra_requirements(lesson_extras(notebook))]
    return f"already installed: {', '.join(packages)}"


def write_install_cells(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Rewrite the first code cell of each lesson to :func:`install_cell`.

    Only that cell changes. Its stored output becomes :func:`install_message`, what it prints in
    the environment the lessons are run in (everything installed); the file keeps its JSON layout.

    Args:
        paths: lesson notebooks, e.g. ``sorted(Path("lessons").glob("[0-9]*.ipynb"))``.

    Returns:
        the paths whose install cell changed.
    """
    changed = []
    for path in paths:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        source = install_cell(str(path))
        if "".join(cell["source"]) != source:
            cell["source"] = source.splitlines(keepends=True)
            message = install_message(str(path)) + "\n"
            cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": [message]}]
            text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
            Path(path).write_text(text, encoding="utf-8")
            changed.append(str(path))
    return changed


def format_settings(settings: dict[str, Any]) -> str:
    """One line per setting, headed by the mode, for a lesson to print above its results.

    Args:
        settings: name -> value, e.g. the dict :func:`by_mode` chose.

    Returns:
        A multi-line string such as ``"mode: quick (MINIVISION_QUICK=1)\\n  epochs: 1"``.
    """
    mode = f"quick ({QUICK_ENV}=1)" if quick_mode() else "full"
    width = max((len(name) for name in settings), default=0)
    lines = [f"mode: {mode}"] + [f"  {name:<{width}} : {value}" for name, value in settings.items()]
    return "\n".join(lines)


def hardware() -> str:
    """A one-line description of where the code runs, to print beside measured results.

    Returns:
        e.g. ``"cuda: NVIDIA H100 80GB HBM3 | torch 2.4.0"`` or
        ``"cpu: AMD EPYC 7B13 (2 threads) | torch 2.4.0"``.
    """
    if torch.cuda.is_available():
        device = f"cuda: {torch.cuda.get_device_name(0)}"
    elif mps_available():
        device = f"mps: Apple GPU ({platform.machine()})"
    else:
        device = f"cpu: {cpu_name()} ({torch.get_num_threads()} threads)"
    return f"{device} | torch {torch.__version__}"
