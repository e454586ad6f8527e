"""Objectives, constraints, Pareto fronts and hypervolume on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from nas.objectives import (
    hypervolume,
    objective_vector,
    order_best_first,
    pareto_mask,
    parse_constraint,
    parse_objective,
    total_violation,
)
from nas.search_config import apply_overrides
from search_spaces.errors import NasError


def test_constraint_text():
    c = parse_constraint("latency_ms[cpu-host] <= 5")
    assert (c.metric, c.op, c.bound) == ("latency_ms[cpu-host]", "<=", 5.0)
    assert parse_constraint("params<=2e6").bound == 2e6
    assert c.violation(4.0) == 0 and c.violation(5.0) == 0 and c.violation(7.5) == pytest.approx(0.5)
    assert parse_constraint("accuracy > 0.9").violation(0.9) > 0
    for bad in ("params =< 3", "params <= lots", "<= 3", 5):
        with pytest.raises(NasError, match="constraints"):
            parse_constraint(bad)


def test_objectives_and_vectors():
    assert parse_objective("max accuracy") == parse_objective({"accuracy": "max"})
    objs = [parse_objective({"metric": "accuracy"}), parse_objective("min params")]
    assert objective_vector({"accuracy": 0.9, "params": 10}, objs).tolist() == [-0.9, 10.0]
    with pytest.raises(NasError, match="metric 'params' is not produced.*'accuracy'"):
        objective_vector({"accuracy": 0.9}, objs)
    with pytest.raises(NasError, match="goal"):
        parse_objective({"metric": "accuracy", "goal": "up"})
    cons = [parse_constraint("params <= 5")]
    assert total_violation({"params": 4}, cons) == 0 and total_violation({"params": 10}, cons) == 1.0


def test_pareto_hypervolume_and_order():
    F = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0], [2.5, 2.5]])
    assert pareto_mask(F).tolist() == [True, True, True, False, False]
    # staircase of the three front points under reference (4, 4): 3 + 2 + 1 = 6
    assert hypervolume(F, [4.0, 4.0]) == pytest.approx(6.0)
    assert hypervolume(np.array([[5.0, 5.0]]), [4.0, 4.0]) == 0.0
    order = order_best_first(F, np.array([0, 0, 0, 0, 0.5]))
    assert set(order[:3]) == {0, 1, 2} and order[-1] == 4  # infeasible last


def test_set_overrides():
    raw = {"budget": 5, "strategy": {"name": "nsga2"}}
    out = apply_overrides(raw, ["budget=50", "strategy.population=30", "constraints=['params <= 2e6']"])
    assert out == {
        "budget": 50,
        "strategy": {"name": "nsga2", "population": 30},
        "constraints": ["params <= 2e6"],
    }
    assert raw["budget"] == 5  # the input is not changed
    with pytest.raises(NasError, match="unknown field 'bugdet'"):
        apply_overrides(raw, ["bugdet=3"])
