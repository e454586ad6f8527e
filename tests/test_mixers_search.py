"""Every search strategy on the mixed-mixer space (issue 30: "search (every strategy) works on the
mixed space"): a tiny budget, the cheap complexity evaluator in the driver, real run directories."""

from __future__ import annotations

import numpy as np
import pytest

from nas import runner, search_config
from nas import strategies as S
from search_spaces import ArchConfig, complexity, load_space

SPACE = load_space("mixers-demo")
BUDGET = 10
OPTIONS = {  # small populations so the budget reaches each strategy's own proposals
    "random": {},
    "evolution": {"population": 4, "parents": 2},
    "aging": {"population": 4, "sample_size": 2, "initial": 4},
    "nsga2": {"population": 4, "initial": 4},
    "local": {"initial": 4},
    "bayesian": {"initial": 4, "candidates": 16},
}


def test_the_table_names_every_strategy():
    assert set(OPTIONS) == set(S.FACTORIES)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_strategy_searches_the_mixed_space(name, tmp_path):
    raw = {
        "space": "mixers-demo",
        "evaluators": [{"kind": "complexity"}],
        "objectives": ["min flops", "max params"],  # in conflict: the front spans the space
        "strategy": {"name": name, **OPTIONS[name]},
        "budget": BUDGET,
        "seed": 0,
    }
    result = runner.run_search(search_config.check(raw), tmp_path / "run", workers=1, progress=False)
    assert len(result.records) == BUDGET
    archs = [SPACE.validate(ArchConfig.from_dict(r["arch"])) for r in result.records]
    assert len(set(archs)) == BUDGET  # no architecture evaluated twice
    used = {m for a in archs for m in a["mixer"][: a.depth]}
    assert len(used) > 1, used
    assert used <= set(SPACE.layer_dims["mixer"])
    c = complexity(SPACE, archs)
    for key in ("flops", "params"):
        got = np.array([r["metrics"][key] for r in result.records], dtype=float)
        assert np.all(np.isfinite(got)) and np.allclose(got, c[key]), key
