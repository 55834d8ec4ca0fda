"""The package's shape: no import cycles, and a CLI that talks to the API only.

Every import counts, also those inside functions (a lazy import hides a cycle, it does not
remove it); only imports under `if TYPE_CHECKING:` are left out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import feedsync

PACKAGE = Path(feedsync.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The feedsync modules `name` imports (a `from pkg import sub` names the submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif base in known:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the feedsync modules it imports."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def _package_edges_removed(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # A package's __init__ re-exporting its own submodules is not a cycle with them.
    return {name: {t for t in targets if not t.startswith(name + ".")}
            for name, targets in graph.items()}


def test_no_import_cycles_inside_the_package() -> None:
    assert cycles(_package_edges_removed(import_graph())) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_lazy_imports_count() -> None:
    source = PACKAGE / "api.py"
    graph = import_graph()
    assert "feedsync.pipeline" in graph["feedsync.api"], source


def test_the_cli_imports_only_the_api_and_its_own_modules() -> None:
    graph = import_graph()
    allowed = {"feedsync", "feedsync.api"}
    for name in ("feedsync.cli.app",):
        outside = {m for m in graph[name] if m not in allowed and not m.startswith("feedsync.cli")}
        assert outside == set(), f"{name} imports {sorted(outside)}"


def test_nothing_in_the_package_imports_the_api() -> None:
    graph = import_graph()
    importers = sorted(name for name, targets in graph.items() if "feedsync.api" in targets
                       and not name.startswith("feedsync.cli"))
    assert importers == []


def test_config_is_plain_data() -> None:
    graph = import_graph()
    config_modules = [n for n in graph if n == "feedsync.config" or
                      n.startswith("feedsync.config.")]
    allowed = ("feedsync.config", "feedsync.errors", "feedsync.yamlpos",
               "feedsync.products.product")
    for name in config_modules:
        outside = {m for m in graph[name] if not m.startswith(allowed)}
        assert outside == set(), f"{name} imports {sorted(outside)}"
