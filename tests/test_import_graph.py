"""Import structure of the supernet package (lazy imports inside functions included)."""

from __future__ import annotations

import ast

from conftest import ROOT


def import_graph(package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            deps |= {m for m in mods if m.startswith(package + ".") or m == package}
        graph[name] = deps - {name}
    return {k: {d for d in v if d in graph and d != package} for k, v in graph.items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for d in graph[todo.pop()] - seen:
            seen.add(d)
            todo.append(d)
    return seen


def test_checkpoints_and_evaluation_do_not_import_the_trainer():
    """checkpoint -> train -> evaluation -> checkpoint was a loop; the optimizer lives in supernet.optim."""
    graph = import_graph("supernet")
    assert "supernet.train" not in reachable(graph, "supernet.checkpoint")
    assert "supernet.train" not in reachable(graph, "supernet.evaluation")
    assert "supernet.checkpoint" not in reachable(graph, "supernet.checkpoint")  # no loop through it
