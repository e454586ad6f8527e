"""Import structure of the packages (lazy imports inside functions included): no loops."""

from __future__ import annotations

import ast

from conftest import ROOT


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, lazy imports inside functions included.
    ``from P import m`` of a submodule ``m`` is an edge to ``P.m`` (not to ``P``'s ``__init__``,
    which Python runs first whatever the order), ``from P import name`` an edge to ``P``."""
    files = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        files[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & files.keys()
                deps |= subs
                if len(subs) < len(node.names):
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d in files and d not in (name, package)}
    return graph


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


def loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """The import loops of a graph: its strongly connected parts of more than one module
    (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = set()
            while not part or w != v:
                w = stack.pop()
                part.add(w)
            if len(part) > 1:
                found.append(part)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_loops_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert loops(graph) == [{"a", "b", "c"}]
    assert loops({"a": {"b"}, "b": set()}) == []


def test_samplers_and_complexity_sampling_share_a_contract_not_a_loop():
    """samplers <-> complexity_sampling was a loop; both import supernet.sampler_api."""
    graph = import_graph("supernet")
    assert "supernet.samplers" not in reachable(graph, "supernet.complexity_sampling")
    assert not [part for part in loops(graph) if "supernet.samplers" in part]


def test_search_spaces_has_no_import_loop():
    """space -> encoding -> batch -> space (and space -> operators -> space, through type
    annotations) was a loop; operators, batches and encodings read a SpaceStructure."""
    graph = import_graph("search_spaces")
    assert loops(graph) == []
    for low in ("search_spaces.operators", "search_spaces.batch", "search_spaces.encoding"):
        assert "search_spaces.space" not in reachable(graph, low), low


def test_no_package_has_an_import_loop():
    """Every package's modules form a DAG: contracts (``supernet.tasks.api``,
    ``predictors.models.inputs``) sit below the modules that implement them."""
    for package in ("nas", "search_spaces", "supernet", "predictors", "experiments"):
        assert loops(import_graph(package)) == [], package


# The floors, lowest first: a module imports only its own floor and those below it.
FLOORS = ("search_spaces", "supernet", "predictors", "nas", "experiments")
# The one documented arrow up (docs/design.md, "Import structure"): ``cost: latency`` in a
# training config bins subnets by a device's latency predictor.
UPWARD_EXCEPTIONS = {("supernet.complexity_sampling", "predictors")}


def upward_imports() -> set[tuple[str, str]]:
    """(module, package above it) for every import, lazy ones inside functions included,
    that runs up the floors of :data:`FLOORS`."""
    found = set()
    for floor, package in enumerate(FLOORS):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    targets = [node.module]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                for t in targets:
                    top = t.split(".")[0]
                    if top in FLOORS and FLOORS.index(top) > floor:
                        found.add((name, top))
    return found


def test_upward_imports_are_found(tmp_path, monkeypatch):
    """The check sees a lazy import inside a function."""
    import test_import_graph as me

    (tmp_path / "search_spaces").mkdir()
    (tmp_path / "search_spaces" / "low.py").write_text("def f():\n    from nas.terminal import Terminal\n")
    for package in FLOORS[1:]:
        (tmp_path / package).mkdir()
    monkeypatch.setattr(me, "ROOT", tmp_path)
    assert me.upward_imports() == {("search_spaces.low", "nas")}


def test_no_layer_imports_a_layer_above_it():
    """Presentation lives on the top floor: the trainer and the latency campaign report
    through a ``reporter`` (search_spaces.progress) and never import nas.terminal."""
    assert upward_imports() == UPWARD_EXCEPTIONS
