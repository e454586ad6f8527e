"""``best`` is one rule everywhere: the feasible record first by the first objective,
ties broken by the next objectives in order, so it is always on the Pareto front
(the search summary, best.json, pareto.json's first row, ``--select best``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nas import runner, search_config
from nas.export.select import select_records
from nas.objectives import Objective, objective_vector, pareto_mask, parse_constraint
from nas.run_outputs import best_record, best_under_each, pareto_front, write_outputs

ROOT = Path(__file__).resolve().parents[1]


def _rec(i, acc, flops, lat=1.0):
    return {"index": i, "arch": {"i": i}, "metrics": {"accuracy": acc, "flops": flops, "latency": lat}}


def test_ties_on_the_first_objective_go_to_the_next_objectives_in_order():
    objs = [Objective("accuracy", "max"), Objective("flops", "min"), Objective("latency", "min")]
    records = [
        _rec(0, 0.889, 966_848, 2.0),  # first of the ties, dominated by 1 and 2
        _rec(1, 0.889, 409_792, 3.0),
        _rec(2, 0.889, 409_792, 1.0),  # tie on two objectives: the third decides
        _rec(3, 0.5, 100, 0.1),
        _rec(4, 0.95, 10, 0.1),  # infeasible below
    ]
    cons = [parse_constraint("flops >= 50")]
    best = best_record(records, objs, cons)
    assert best["index"] == 2
    front = pareto_front(records, objs, cons)
    assert front[0] is best and [r["index"] for r in front] == [2, 3]
    assert best_under_each(records, objs, cons)["all constraints"]["index"] == 2
    assert best_record(records, objs, [parse_constraint("flops <= 10")])["index"] == 4
    assert best_record(records, objs, [parse_constraint("flops <= 1")]) is None
    # equal on every objective: the older one
    assert best_record([_rec(0, 0.9, 5), _rec(1, 0.9, 5)], objs, [])["index"] == 0


def test_a_search_with_tied_accuracy_exports_the_member_of_the_front(tmp_path):
    rows = [
        json.loads(line)
        for line in (ROOT / "experiments/data/tabular_toy.jsonl").read_text().splitlines()[:12]
    ]
    for r in rows:
        r["metrics"]["accuracy"] = 0.889  # every evaluation ties on the first objective
    table = tmp_path / "tied.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = search_config.check(
        {
            "space": str(ROOT / "experiments/tabular_toy_space.yaml"),
            "evaluators": [{"kind": "table", "path": str(table)}],
            "objectives": [{"metric": "accuracy", "goal": "max"}, {"metric": "params", "goal": "min"}],
            "strategy": {"name": "random"},
            "budget": 12,
            "seed": 0,
        }
    )
    run = tmp_path / "run"
    result = runner.run_search(cfg, run, workers=1, progress=False)
    records = result.records
    params = [r["metrics"]["params"] for r in records]
    assert params[0] != min(params)  # the first of the ties is not the best: the old rule's pick
    summary = write_outputs(run, records, cfg.objectives, cfg.constraints)
    best = summary["best"]["all constraints"]
    assert best["metrics"]["params"] == min(params)
    F = np.array([objective_vector(r["metrics"], cfg.objectives) for r in records])
    on_front = {records[i]["index"] for i in np.flatnonzero(pareto_mask(F))}
    assert best["index"] in on_front
    assert json.loads((run / "best.json").read_text())["all constraints"]["index"] == best["index"]
    assert json.loads((run / "pareto.json").read_text())[0]["index"] == best["index"]
    (chosen,) = select_records(run, "best")[1]
    assert chosen["index"] == best["index"]
    (chosen,) = select_records(run, f"params<={max(params)}")[1]
    assert chosen["index"] == best["index"]
