"""llmsight's import graph, read from the source (every import statement, those inside functions and under
TYPE_CHECKING included: a function-level import hides a cycle, it does not remove it).

- No module reaches itself through the modules it imports.
- The areas are layered: the app side (`llmsight`) < the collector < alerts < dashboards. A module imports only its
  own area and the ones below, except the composition roots, which wire the areas together (the collector's
  process, the commands): with them on top, the areas' dependency graph is a tree.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

AREAS = ("llmsight", "llmsight.collector", "llmsight.alerts", "llmsight.dashboards")  # bottom first
# Modules that wire areas together: they may import any area.
COMPOSITION_ROOTS = frozenset({
    "llmsight.cli",
    "llmsight.collector.app",  # the collector's process: store, pipeline, read-API operations, alert evaluator
    "llmsight.collector.report.run",  # `llmsight report`
    "llmsight.collector.report.demo",  # `llmsight demo`
    "llmsight.alerts.sync",  # `llmsight grafana sync`: pushes the dashboards and the alert rules
})
def _modules() -> dict[str, Path]:
    """Every module of the package, by name, from where each area's package really is (editable or wheel)."""
    found: dict[str, Path] = {}
    for area in AREAS:
        root = Path(importlib.import_module(area).__path__[0])
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([area, *parts])
            if not any(name.startswith(f"{other}.") or name == other for other in AREAS if other != area and other.startswith(f"{area}.")):
                found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its source (its own parent packages left out)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names)
    resolved = set()
    for target in targets:
        while target not in modules and "." in target:
            target = target.rpartition(".")[0]
        if target in modules and target != name and not name.startswith(f"{target}."):
            resolved.add(target)
    return resolved


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _area(name: str) -> int:
    return max(index for index, area in enumerate(AREAS) if name == area or name.startswith(f"{area}."))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_the_graph_is_read_from_every_area() -> None:
    graph = _graph()
    for area in AREAS:
        assert sum(name.startswith(f"{area}.") for name in graph) >= 3, area
    assert "llmsight.collector.read_api" in graph["llmsight.collector.app"]


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(_graph()) == []


def test_cycle_detection_finds_a_cycle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_areas_are_layered_and_only_composition_roots_reach_up() -> None:
    graph = _graph()
    upward = {
        (name, target) for name, targets in graph.items() if name not in COMPOSITION_ROOTS
        for target in targets if _area(target) > _area(name)
    }
    assert upward == set(), "upward imports: wire them in a composition root, or move the shared part down"
