"""The package's import graph has no cycles.

A cycle makes import order matter (a module sees its partner half-initialised) and blurs which
layer owns a concept. Every import counts, including those under `if TYPE_CHECKING:` and those
inside functions (a lazy import still ties the two modules together), except the lazy loads of
optional SDKs, which are outside the package. Modules are read with `ast`, never imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "autocomp"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Every Python module of the package (problem references and data folders are not modules)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if all((d / "__init__.py").exists() for d in path.parents if PACKAGE in (d, *d.parents)):
            modules[module_name(path)] = path
    return modules


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules `path` imports anywhere in its body."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:  # `from a.b import c`: c may be a module or a name in a.b
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):  # a package's own __init__ is not a cycle
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycles() -> None:
    modules = package_modules()
    assert "autocomp.search.beam" in modules and "autocomp.config" in modules
    graph = {name: imports(path, name, set(modules)) for name, path in modules.items()}
    assert "autocomp.config" in graph["autocomp.search.beam"]  # the walk sees real edges
    found = cycles(graph)
    assert not found, f"import cycles (each list: modules that import each other, directly or not): {found}"
