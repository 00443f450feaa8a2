"""Helpers the lesson notebooks share: quick mode, Colab links, settings and hardware lines.

Every lesson reads one switch, the environment variable ``MINIVISION_QUICK``: set to ``1`` it
shrinks data and steps so the whole notebook runs in about a minute on a CPU (that is how CI runs
the lessons under nbval); unset, a lesson runs at the full settings its stored outputs come from.

The repository's address lives here and nowhere else (``REPO_URL``): the "Open in Colab" badge of
every lesson and its Colab install cell must point at it, and a test checks that they do.

Example, the setup cell of a lesson::

    from minivision import lesson

    QUICK = lesson.quick_mode()
    SETTINGS = lesson.by_mode(quick=dict(epochs=1, train_size=512),
                              full=dict(epochs=10, train_size=10_000))
    print(lesson.format_settings(SETTINGS))
"""
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

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


def pip_install_spec() -> str:
    """What a lesson's Colab cell installs: the package straight from the repository."""
    return f"minivision @ git+{REPO_URL}"


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


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> str:
    """A one-line description of where the code runs, to print beside measured results.

    Returns:
        e.g. ``"cuda: NVIDIA H100 80GB HBM3 | torch 2.4.0"`` or
        ``"cpu: AMD EPYC 7B13 (2 threads) | torch 2.4.0"``.
    """
    if torch.cuda.is_available():
        device = f"cuda: {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = f"mps: Apple GPU ({platform.machine()})"
    else:
        device = f"cpu: {_cpu_name()} ({torch.get_num_threads()} threads)"
    return f"{device} | torch {torch.__version__}"
