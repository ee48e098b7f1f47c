"""The package's one dependency direction (docs/architecture.md), checked on the source with
:mod:`ast`: stats <- data <- tables <- figures | reports, pipeline -> data + stats, the leaf
modules import nothing from evsynth, no cycles, no function-level imports of evsynth."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workflow" / "lib" / "evsynth"

LEAVES = {"wording", "_values"}
#: layer -> the layers it may import (itself included); "top" is evsynth/__init__ and freeze.
ALLOWED = {
    "leaf": set(),
    "stats": {"stats", "leaf"},
    "data": {"data", "stats", "leaf"},
    "tables": {"tables", "data", "stats", "leaf"},
    "figures": {"figures", "tables", "data", "stats", "leaf"},
    "reports": {"reports", "tables", "data", "stats", "leaf"},
    "pipeline": {"pipeline", "data", "stats", "leaf"},
    "top": {"data", "leaf"},
}
#: third-party packages a layer must not import.
FORBIDDEN_EXTERNAL = {"stats": {"pandas", "matplotlib"}}
ONLY_FIGURES = {"matplotlib"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "top"
    if parts[1] in LEAVES:
        return "leaf"
    return parts[1] if parts[1] in ALLOWED else "top"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.Module) -> list[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for every import in ``tree``."""
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under `if TYPE_CHECKING:` or try/except at module level count as top level
        if isinstance(node, (ast.If, ast.Try)):
            top_level.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a.b import c` imports a.b.c when c is a module, else a.b (resolved in violations)
            found += [(f"{node.module}.{alias.name}", id(node) in top_level, node.lineno) for alias in node.names]
    return found


def violations(sources: dict[str, str]) -> list[str]:
    """Every breach of the layering rules in ``sources`` (module name -> source text)."""
    problems, graph = [], {}
    for module, text in sorted(sources.items()):
        layer = layer_of(module)
        graph[module] = set()
        for name, top, line in imports_of(ast.parse(text)):
            root = name.split(".")[0]
            if root == "evsynth":
                target = name if name in sources or "." not in name else name.rsplit(".", 1)[0]
                if not top:
                    problems.append(f"{module}:{line}: function-level import of {target}")
                if layer_of(target) not in ALLOWED[layer] and target != "evsynth":
                    problems.append(f"{module}:{line}: {layer} may not import {layer_of(target)} ({target})")
                if target in sources and target != module:
                    graph[module].add(target)
            elif root in FORBIDDEN_EXTERNAL.get(layer, set()):
                problems.append(f"{module}:{line}: {layer} may not import {root}")
            elif root in ONLY_FIGURES and layer != "figures":
                problems.append(f"{module}:{line}: only figures may import {root}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_sources() -> dict[str, str]:
    return {module_name(p, PACKAGE): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_package_keeps_its_layers():
    assert violations(package_sources()) == []


@pytest.mark.parametrize(
    ("module", "text", "expected"),
    [
        ("evsynth.stats.pooling", "from evsynth.data.config import Outcome\n",
         "evsynth.stats.pooling:1: stats may not import data (evsynth.data.config)"),
        ("evsynth.data.config", "from evsynth.tables.pooled import analyse\n",
         "evsynth.data.config:1: data may not import tables (evsynth.tables.pooled)"),
        ("evsynth.figures.forest", "from evsynth.reports.sof import sof_row\n",
         "evsynth.figures.forest:1: figures may not import reports (evsynth.reports.sof)"),
        ("evsynth.wording", "import evsynth.stats.results\n",
         "evsynth.wording:1: leaf may not import stats (evsynth.stats.results)"),
        ("evsynth.stats.escalc", "import pandas as pd\n", "evsynth.stats.escalc:1: stats may not import pandas"),
        ("evsynth.tables.rob", "import matplotlib\n", "evsynth.tables.rob:1: only figures may import matplotlib"),
        ("evsynth.data.studies", "def f():\n    from evsynth.data import config\n",
         "evsynth.data.studies:2: function-level import of evsynth.data.config"),
    ],
)
def test_an_upward_import_is_caught(module, text, expected):
    sources = package_sources()
    sources[module] = text
    assert expected in violations(sources)


def test_a_cycle_is_caught():
    sources = {
        "evsynth.data.a": "from evsynth.data.b import x\n",
        "evsynth.data.b": "from evsynth.data.c import y\n",
        "evsynth.data.c": "import evsynth.data.a\n",
    }
    assert violations(sources) == ["import cycle: evsynth.data.a -> evsynth.data.b -> evsynth.data.c -> evsynth.data.a"]
