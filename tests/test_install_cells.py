"""The Colab path: what a lesson's install cell installs, and that it is all the lesson needs.

- every lesson's first code cell is the one ``minivision.lesson.install_cell`` writes: minivision
  pinned to the tag of ``minivision.__version__`` (the one place that holds the version), with the
  extras of ``lesson.LESSON_EXTRAS``, and the line it prints where all of it is installed;
- every package a lesson imports (its cells, and the functions of minivision it calls that import
  something lazily) comes with the core dependencies or with its extras, and each extra it names is
  used: a lesson that imports timm without asking for it fails here, not at a student's first cell;
- the cell installs when minivision or an extra's package is missing or older, and only then
  (run in a real IPython shell, with ``%pip`` replaced and the installed versions faked);
- no lesson chooses a precision by hand: the setup cells call ``pick_amp``.

tests/test_fresh_venv.py then runs a lesson in a new virtual environment that holds only this.
"""
import ast
import importlib.metadata
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import minivision
from minivision import lesson

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REWRITE = ("python -c \"from pathlib import Path; from minivision import lesson; "
           "lesson.write_install_cells(sorted(Path('lessons').glob('[0-9]*.ipynb')))\"")


def _code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


# ------------------------------------------------------------------- the cell and the version


def test_the_version_has_one_source():
    assert "version" not in PYPROJECT and "version" in PYPROJECT["dynamic"]
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["dynamic"]["version"] == {"attr": "minivision.__version__"}
    installed = importlib.metadata.version("minivision")
    assert installed == minivision.__version__, (
        f"the installed metadata says {installed}, minivision.__version__ {minivision.__version__}: "
        "reinstall (make setup)")
    assert lesson.release_tag() == f"v{minivision.__version__}"
    assert lesson.pip_install_spec(("timm",)) == (
        f"minivision[timm] @ git+{lesson.REPO_URL}@v{minivision.__version__}")


def test_lesson_extras_are_extras_of_the_package():
    declared = set(PYPROJECT["optional-dependencies"])
    for number, extras in lesson.LESSON_EXTRAS.items():
        assert set(extras) <= declared, (number, extras, declared)
        assert any(path.name.startswith(number) for path in LESSONS), number
    with pytest.raises(ValueError, match="no extras"):
        lesson.extra_requirements(("no-such-extra",))


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_install_cell_is_the_generated_one(path):
    cell = _code_cells(path)[0]
    assert _source(cell) == lesson.install_cell(path.name), (
        f"{path.name}: the install cell is not what minivision.lesson writes for this version; "
        f"rewrite it with\n  {REWRITE}")
    stored = "".join("".join(out.get("text", "")) for out in cell["outputs"])
    assert stored == lesson.install_message(path.name) + "\n", stored
    spec = re.search(r"^SPEC = (\(.*?\))$", _source(cell), re.M | re.S).group(1)
    assert ast.literal_eval(spec) == lesson.pip_install_spec(lesson.lesson_extras(path.name))
    assert max(len(line) for line in _source(cell).splitlines()) <= 88


def test_docs_pin_this_version():
    # README and the installation page show install lines: each must be one a cell would use
    spec = re.compile(r"minivision(?:\[([^\]]*)\])? @ git\+[^\s\"']+")
    for doc in (ROOT / "README.md", ROOT / "docs" / "installation.md"):
        found = list(spec.finditer(doc.read_text()))
        assert found, f"{doc.name} shows no install line"
        for match in found:
            extras = tuple(match.group(1).split(",")) if match.group(1) else ()
            expected = lesson.pip_install_spec(extras)
            assert match.group(0) == expected, f"{doc.name}: {match.group(0)!r}, not {expected!r}"


# ------------------------------------------------- what a lesson imports, and who provides it


def _imports(tree: ast.AST) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names imported from it) for every import statement, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


def _lazy_imports(module: str, names: tuple[str, ...]) -> set[str]:
    """Modules that the named functions of a minivision module import inside their bodies,
    following the calls they make to other functions of the same module."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return set()
    tree = ast.parse(Path(spec.origin).read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    todo, seen, found = [n for n in names if n in functions], set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        body = functions[name]
        found |= {mod for mod, _ in _imports(body)}
        todo += [node.id for node in ast.walk(body)
                 if isinstance(node, ast.Name) and node.id in functions]
    return found


def lesson_imports(path: Path) -> set[str]:
    """The top-level modules a lesson imports, itself or through minivision's lazy imports."""
    modules = set()
    for cell in _code_cells(path):
        # IPython lines (%pip, !ls) are no Python: keep the indentation, drop the command
        lines = [re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in _source(cell).splitlines()]
        for module, names in _imports(ast.parse("\n".join(lines))):
            modules.add(module)
            if module.split(".")[0] == "minivision":
                modules |= _lazy_imports(module, names)
    return {module.split(".")[0] for module in modules}


def _distributions_of(modules: set[str]) -> dict[str, str]:
    """Top-level module -> the distribution that installs it (stdlib and minivision left out)."""
    owners = importlib.metadata.packages_distributions()
    found = {}
    for module in sorted(modules - set(sys.stdlib_module_names) - {"minivision"}):
        assert module in owners, f"{module!r} is imported but installed by no distribution here"
        found[module] = canonicalize_name(owners[module][0])
    return found


def _requirements(lines: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in lines}


def _closure(names: set[str]) -> set[str]:
    """The distributions and everything they require (as installed here), markers evaluated."""
    todo, found = list(names), set()
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return found


def provided(extras: tuple[str, ...]) -> set[str]:
    """What ``pip install "minivision[extras]"`` brings: core, extras, and their requirements."""
    groups = PYPROJECT["optional-dependencies"]
    direct = _requirements(PYPROJECT["dependencies"])
    for extra in extras:
        direct |= _requirements(groups[extra])
    return _closure(direct)


def check_lesson_imports(path: Path, extras: tuple[str, ...]):
    """Raise AssertionError when the lesson imports what core + extras lack, or an extra is idle."""
    imported = _distributions_of(lesson_imports(path))
    available = provided(extras)
    lacking = {module: dist for module, dist in imported.items() if dist not in available}
    assert not lacking, (
        f"{path.name} imports {lacking} (module: distribution), which neither the core "
        f"dependencies nor its install cell's extras {list(extras)} provide: add an extra to "
        "LESSON_EXTRAS in minivision/lesson.py (pyproject.toml) and rewrite the install cells")
    groups = PYPROJECT["optional-dependencies"]
    for extra in extras:
        assert _requirements(groups[extra]) & set(imported.values()), (
            f"{path.name} installs the extra {extra!r} but imports none of its packages")


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_import_of_a_lesson_is_installed_by_its_install_cell(path):
    check_lesson_imports(path, lesson.lesson_extras(path.name))


def test_the_import_check_fails_without_an_extra(tmp_path):
    # lesson 03 without its extras, and a lesson that asks for an extra it does not use
    lesson_03 = next(path for path in LESSONS if path.name.startswith("03"))
    with pytest.raises(AssertionError, match="timm"):
        check_lesson_imports(lesson_03, ())
    with pytest.raises(AssertionError, match="transformers"):
        check_lesson_imports(lesson_03, ("timm",))
    lesson_00 = next(path for path in LESSONS if path.name.startswith("00"))
    with pytest.raises(AssertionError, match="imports none"):
        check_lesson_imports(lesson_00, ("timm",))
    # a lazy import inside a minivision function counts: lesson 10 needs open_clip that way
    lesson_10 = next(path for path in LESSONS if path.name.startswith("10"))
    assert "open_clip" in lesson_imports(lesson_10)
    with pytest.raises(AssertionError, match="open_clip"):
        check_lesson_imports(lesson_10, ("transformers",))


# ------------------------------------------------------------ the cell, run in an IPython shell


PIP_INSTALLS = {"minivision": minivision.__version__, "timm": "1.0.31", "transformers": "5.2"}


@pytest.fixture
def shell(monkeypatch):
    """An IPython shell with fake installed versions, whose %pip records its argument and
    installs ``pip_installs`` (PIP_INSTALLS unless a test empties it: a pip that fails)."""
    from IPython.core.interactiveshell import InteractiveShell

    installed, calls, pip_installs = {}, [], dict(PIP_INSTALLS)

    def fake_pip(line):
        calls.append(line)
        installed.update(pip_installs)

    def fake_version(name):
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    ip = InteractiveShell.instance()
    ip.register_magic_function(fake_pip, "line", "pip")
    yield ip, installed, calls, pip_installs
    InteractiveShell.clear_instance()


CASES = [  # installed versions -> whether the cell of lesson 03 installs
    ({"minivision": minivision.__version__, "timm": "1.0.31", "transformers": "5.2"}, False),
    ({"minivision": "99.0.0", "timm": "0.9", "transformers": "4.40.0.dev0"}, False),
    ({"timm": "1.0.31", "transformers": "5.2"}, True),  # no minivision: Colab, a new Jupyter
    ({"minivision": "0.0.9", "timm": "1.0.31", "transformers": "5.2"}, True),  # an older one
    ({"minivision": minivision.__version__, "transformers": "5.2"}, True),  # no timm
    ({"minivision": minivision.__version__, "timm": "0.8.1", "transformers": "5.2"}, True),
]


@pytest.mark.parametrize("versions, installs", CASES)
def test_install_cell_installs_only_what_is_missing(shell, capsys, versions, installs):
    ip, installed, calls, _ = shell
    installed.update(versions)
    result = ip.run_cell(lesson.install_cell("03_vit_anatomy.ipynb"))
    assert result.success, result.error_in_exec
    printed = capsys.readouterr().out
    spec = lesson.pip_install_spec(("timm", "transformers"))
    if installs:
        assert calls == [f'install -q "{spec}"'], calls
        assert printed.startswith(f"installed {spec} (")
    else:
        assert calls == [] and printed == lesson.install_message("03_vit_anatomy.ipynb") + "\n"


def test_install_cell_stops_when_pip_fails(shell, capsys):
    # offline, or no such tag: pip prints its error, and the cell must not go on as if installed
    ip, installed, calls, pip_installs = shell
    installed.update(timm="1.0.31", transformers="5.2")
    pip_installs.clear()
    result = ip.run_cell(lesson.install_cell("03_vit_anatomy.ipynb"))
    assert len(calls) == 1 and not result.success
    assert isinstance(result.error_in_exec, AssertionError)
    assert "not installed: minivision" in str(result.error_in_exec)
    assert "installed minivision" not in capsys.readouterr().out


# --------------------------------------------------------------------- precision: pick_amp only


HAND_PICKED = re.compile(r"""amp\s*=\s*["'](bf16|fp16)["']|get_device_capability|"""
                         r"""\bAMP\s*=(?!=|\s*pick_amp\(DEVICE\))""")


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_no_lesson_chooses_a_precision_by_hand(path):
    for index, cell in enumerate(_code_cells(path)):
        for line in _source(cell).splitlines():
            assert not HAND_PICKED.search(line), (
                f"{path.name}, code cell {index}: {line.strip()!r}; use "
                "AMP = pick_amp(DEVICE) (minivision.training), or leave amp at 'auto'")


def test_the_precision_lint_can_fail():
    for line in ('AMP = "bf16" if DEVICE.type == "cuda" else None',
                 '    AMP = "bf16" if torch.cuda.get_device_capability()[0] >= 8 else "fp16"',
                 'history = fit(model, loader, amp="fp16")'):
        assert HAND_PICKED.search(line), line
    assert not HAND_PICKED.search("AMP = pick_amp(DEVICE)  # bf16, fp16 or None")
    assert not HAND_PICKED.search("history = fit(model, loader, amp=AMP)")
