"""The shape of the code itself (shared/STYLE.md, issue 17): no import cycle, and functions that
fit on a screen.

Both checks read the source with ``ast`` and import nothing, so they see every import, including the
ones deferred into a function body (a cycle hidden that way is still a cycle: the two modules cannot
be read, or tested, one without the other).
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minivision"
MAX_FUNCTION_LINES = 60
LONG_MARK = "# long:"  # on the def line or the line above, followed by the reason


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module's dotted name (``minivision.models.vit``) -> its file (a package: its
    ``__init__``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name that ``from <dots><name> import ...`` refers to, seen from ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    # In a package's __init__ one dot is the package itself; in a plain module it is the parent.
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its file (at the top or in a
    def)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            # `from pkg import name` imports the submodule pkg.name when there is one, else pkg.
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                     for a in node.names]
        else:
            continue
        for name in names:
            # `import a.b.c` runs a.b.c; keep the longest prefix that is one of ours.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: the package modules it imports}`` for every module in ``package``."""
    modules = module_files(package)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None. Depth-first search with an explicit path."""
    done, on_path = set(), []

    def visit(node):
        if node in on_path:
            return on_path[on_path.index(node):] + [node]
        if node in done:
            return None
        on_path.append(node)
        for child in sorted(graph.get(node, ())):
            cycle = visit(child)
            if cycle:
                return cycle
        on_path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def long_functions(package: Path = PACKAGE,
                   limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """Every function or method longer than ``limit`` lines (from its def to its last line) and
    without a ``# long:`` mark, as ``("path:line name", length)``."""
    offenders = []
    for path in sorted(package.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines), str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            above = lines[node.lineno - 2] if node.lineno >= 2 else ""
            marked = LONG_MARK in lines[node.lineno - 1] or LONG_MARK in above
            if length > limit and not marked:
                where = f"{path.relative_to(package.parent)}:{node.lineno} {node.name}"
                offenders.append((where, length))
    return offenders


# --- the checks on minivision ------------------------------------------------------------------

def test_minivision_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_function_longer_than_a_screen():
    offenders = long_functions()
    report = "\n".join(f"  {where}: {length} lines" for where, length in offenders)
    assert not offenders, (f"functions over {MAX_FUNCTION_LINES} lines (split them, or explain "
                           f"with a '{LONG_MARK} <reason>' comment on the def line):\n{report}")


# --- the checkers themselves, on small packages written here ------------------------------------

def _write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_deferred_import_cycle_is_found(tmp_path):
    """The vit <-> vit_import shape: one module imports the other at the top, the other one
    inside a def."""
    package = _write_package(tmp_path, {
        "__init__.py": "from .models import Model\n",
        "models/__init__.py": "from .model import Model\n",
        "models/model.py": "class Model:\n    def load(self):\n        from .loader import load\n",
        "models/loader.py": "from .model import Model\n",
        "other.py": "import pkg.models.model\nfrom pkg import models\n",
    })
    graph = import_graph(package)
    assert graph["pkg.models.model"] == {"pkg.models.loader"}
    assert graph["pkg.other"] == {"pkg.models.model", "pkg.models"}
    cycle = find_cycle(graph)
    assert cycle[0] == cycle[-1] and set(cycle) == {"pkg.models.model", "pkg.models.loader"}


def test_relative_imports_resolve_from_a_package_and_from_a_module(tmp_path):
    package = _write_package(tmp_path, {
        "__init__.py": "from . import a\nfrom .b import thing\n",
        "a.py": "from . import b\nfrom .. import outside\n",
        "b.py": "from .sub.c import x\nthing = 1\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..b import thing\nx = 2\n",
    })
    graph = import_graph(package)
    assert graph["pkg"] == {"pkg.a", "pkg.b"}
    assert graph["pkg.a"] == {"pkg.b"}  # `from .. import outside` leaves the package
    assert graph["pkg.sub.c"] == {"pkg.b"}
    cycle = find_cycle(graph)
    assert cycle[0] == cycle[-1] and set(cycle) == {"pkg.b", "pkg.sub.c"}
    (package / "sub/c.py").write_text("x = 2\n")
    assert find_cycle(import_graph(package)) is None


def test_long_functions_are_counted_from_def_to_last_line(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(59))
    package = _write_package(tmp_path, {
        "fits.py": "def fits():\n" + body,  # exactly 60 lines
        "too_long.py": "def too_long():\n" + body + "    return 0\n",  # 61
        "marked.py": ("# long: a table that reads best in one piece\n"
                      "def marked():\n" + body + "    return 0\n"),
        "nested.py": "class A:\n    def method(self):\n" + body.replace("    ", "        ")
                     + "        return 0\n",
    })
    offenders = dict(long_functions(package))
    assert offenders == {"pkg/too_long.py:1 too_long": 61, "pkg/nested.py:2 method": 61}
