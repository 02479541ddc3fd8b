"""The package's shape: imports point one way, modules stay small, `__init__.py`s stay thin.

The import graph counts every import of a package module: at the top of a module, inside a
function, and under `if TYPE_CHECKING:` alike. A type-only import that points upward still ties
the two modules together (a reader has to understand both at once), so it is a cycle too.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "asgi_mmo"
MAX_MODULE_LINES = 600

# module -> {imported package module: the line of its first import}
ImportGraph = dict[str, dict[str, int]]


def module_files(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is named by its `__init__.py`)."""
    root = package_dir.parent
    modules: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported_modules(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: set[str]
) -> Iterator[str]:
    """The package modules one import statement loads (`from p import m` names module `p.m`)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
        return
    if node.level:
        # A relative import counts from the importer's package (from the package itself for an __init__).
        base_parts = importer.split(".")
        drop = node.level - 1 if is_package else node.level
        base_parts = base_parts[: len(base_parts) - drop] if drop else base_parts
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in known:
            yield submodule
        elif base in known:
            yield base


def import_graph(package_dir: Path) -> ImportGraph:
    """Who imports whom inside the package, wherever in a module the import stands."""
    modules = module_files(package_dir)
    known = set(modules)
    graph: ImportGraph = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported_modules(node, name, is_package, known):
                    if target != name:
                        edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def _shortest_path(graph: Mapping[str, Mapping[str, int]], start: str, goal: str) -> list[str] | None:
    """Breadth-first: the shortest import chain from start to goal, both ends included."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in graph.get(node, {}):
            if nxt == goal:
                path = [goal, node]
                step = came_from[node]
                while step is not None:
                    path.append(step)
                    step = came_from[step]
                return path[::-1]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    return None


def find_cycles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """A shortest cycle through each import that lies on a cycle, each cycle listed once.

    A path starts and ends at the same module: ["a", "b", "a"]. Every import that takes part
    in a cycle shows up in at least one path, so the list names every import to cut, without
    the explosion of listing every elementary cycle.
    """
    seen: set[tuple[str, ...]] = set()
    cycles: list[list[str]] = []
    for module in sorted(graph):
        for target in sorted(graph[module]):
            back = _shortest_path(graph, target, module)
            if back is None:
                continue
            body = [module, *back[:-1]]
            pivot = body.index(min(body))
            key = tuple(body[pivot:] + body[:pivot])
            if key not in seen:
                seen.add(key)
                cycles.append([*key, key[0]])
    return sorted(cycles, key=lambda c: (len(c), c))


def describe_cycle(graph: Mapping[str, Mapping[str, int]], cycle: list[str], package_dir: Path) -> str:
    """A cycle as a path of imports, each hop with the file and line that makes it."""
    files = module_files(package_dir)
    root = package_dir.parent
    hops = [
        f"    {files[a].relative_to(root)}:{graph[a][b]} imports {b}" for a, b in zip(cycle, cycle[1:], strict=False)
    ]
    return " -> ".join(cycle) + "\n" + "\n".join(hops)


def test_no_import_cycles() -> None:
    graph = import_graph(PACKAGE_DIR)
    cycles = find_cycles(graph)
    report = "\n".join(describe_cycle(graph, cycle, PACKAGE_DIR) for cycle in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s) in asgi_mmo/ (TYPE_CHECKING imports count):\n{report}"


def test_no_module_over_the_size_limit() -> None:
    root = PACKAGE_DIR.parent
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in module_files(PACKAGE_DIR).values()}
    too_long = {str(path.relative_to(root)): n for path, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def test_package_init_holds_only_the_version() -> None:
    tree = ast.parse((PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"))
    assert len(tree.body) == 1, "asgi_mmo/__init__.py holds `__version__` and nothing else"
    (stmt,) = tree.body
    assert isinstance(stmt, ast.Assign), ast.dump(stmt)
    assert [ast.unparse(t) for t in stmt.targets] == ["__version__"]
    assert isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _is_reexport(stmt: ast.stmt, package: str) -> bool:
    """A docstring, `from __future__`, an import from inside this subpackage, or `__all__`."""
    if _is_docstring(stmt):
        return True
    if isinstance(stmt, ast.ImportFrom):
        module = stmt.module or ""
        return module == "__future__" or stmt.level > 0 or module.startswith(f"{package}.")
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [ast.unparse(t) for t in targets] == ["__all__"]
    return False


def test_subpackage_inits_are_empty_or_reexport() -> None:
    root = PACKAGE_DIR.parent
    offenders: list[str] = []
    for name, path in module_files(PACKAGE_DIR).items():
        if path.name != "__init__.py" or path.parent == PACKAGE_DIR:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(root)}:{s.lineno}" for s in tree.body if not _is_reexport(s, name)]
    assert not offenders, f"subpackage __init__.py with more than re-exports: {offenders}"


# The graph function itself, on tiny packages written for the test.


def _write_package(root: Path, files: Mapping[str, str]) -> Path:
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root / "pkg"


def test_a_type_checking_import_closes_a_cycle(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import High\n",
            "pkg/high.py": "from pkg.low import thing\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.low"] == {"pkg.high": 3}
    assert find_cycles(graph) == [["pkg.high", "pkg.low", "pkg.high"]]


def test_function_level_relative_and_module_imports_are_edges(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from .leaf import Leaf\n",
            "pkg/sub/leaf.py": "def f():\n    from .. import top\n",
            "pkg/top.py": "from pkg.sub import leaf\nimport pkg.other\n",
            "pkg/other.py": "import json\nfrom pkg import sub\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.sub"] == {"pkg.sub.leaf": 1}
    assert graph["pkg.sub.leaf"] == {"pkg.top": 2}
    assert graph["pkg.top"] == {"pkg.sub.leaf": 1, "pkg.other": 2}
    assert graph["pkg.other"] == {"pkg.sub": 2}
    assert find_cycles(graph) == [
        ["pkg.sub.leaf", "pkg.top", "pkg.sub.leaf"],
        ["pkg.other", "pkg.sub", "pkg.sub.leaf", "pkg.top", "pkg.other"],
    ]


def test_a_one_way_package_has_no_cycle(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b, c\n",
            "pkg/b.py": "from pkg.c import thing\n",
            "pkg/c.py": "import os\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b": 1, "pkg.c": 1}
    assert find_cycles(graph) == []
