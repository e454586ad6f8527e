"""Zero-cost proxies inside the Bayesian search (nas/strategies/proxy_guide.py): the config
keys, one-line errors, determinism, and that the pre-screen keeps only the proxy's best."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nas import runner, search_config
from nas import strategies as S
from nas.free import build_free
from nas.objectives import objective_vector, total_violation
from nas.strategies.proxy_guide import screen_order
from nas.table import read_table
from search_spaces.errors import NasError

CONFIG = "experiments/search_tabular.yaml"


def _cfg(proxies, budget=13, **extra):
    strat = {"name": "bayesian", "initial": 10, **extra}
    if proxies is not None:
        strat["proxies"] = proxies
    return search_config.load(CONFIG, [f"strategy={json.dumps(strat)}", f"budget={budget}"])


def _run(cfg, seed=0):
    pool, pre = runner.build_pool(cfg), runner.build_prefilter(cfg)
    free = build_free(cfg.evaluators, cfg.objectives, cfg.space)
    s = S.make(cfg.strategy, cfg.space, pool=pool, prefilter=pre, free=free, **cfg.strategy_options)
    table = read_table(cfg.evaluators[0]["path"])

    def evaluate(archs):
        rows = [table[a.to_json()] for a in archs]
        F = np.array([objective_vector(m, cfg.objectives) for m in rows])
        return F, np.array([total_violation(m, cfg.constraints) for m in rows])

    return S.run_sequential(s, evaluate, budget=cfg.budget, seed=seed, lag=2), pool, pre, free


@pytest.mark.parametrize(
    "proxies, field, value",
    [
        ({"names": ["snip"], "prescrean": 4}, "strategy.proxies.prescrean", "prescrean"),
        ({"names": ["nope"]}, "strategy.proxies.names", "nope"),
        ({"names": "snip"}, "strategy.proxies.names", "snip"),
        ({"names": ["params"], "prescreen": 0}, "strategy.proxies.prescreen", "0"),
        ({"names": ["params"], "feature": "yes"}, "strategy.proxies.feature", "yes"),
        ({"names": ["params"], "feature": False}, "strategy.proxies", "prescreen"),
        ({"names": ["params"], "values": "no/such.jsonl"}, "strategy.proxies.values", "no/such.jsonl"),
        ([1, 2], "strategy.proxies", "[1, 2]"),
    ],
)
def test_bad_proxy_options_are_one_line_naming_field_and_value(proxies, field, value):
    with pytest.raises(NasError) as e:
        _cfg(proxies)
    msg = str(e.value)
    assert "\n" not in msg and f"'{field}" in msg and value in msg, msg


def test_prescreen_keeps_only_the_proxys_best_and_is_deterministic():
    cfg = _cfg({"names": ["nonembed_params"], "feature": False, "prescreen": 4})
    state, pool, pre, free = _run(cfg)
    from supernet.proxies import complexity

    proxy = complexity.values(cfg.space, pool, ["nonembed_params"])["nonembed_params"][:, None]
    assert free is None  # the toy table declares no free column: the proxy's order alone
    order = screen_order(proxy, None)
    rank = np.empty(len(pool), dtype=int)
    rank[order] = np.arange(len(pool))
    feasible = np.asarray(pre.fn(pool), dtype=bool)
    index = {a.to_json(): i for i, a in enumerate(pool)}
    for j in range(10, len(state.asked)):  # after the initial design: from the top quarter only
        seen = {index[a] for a in state.asked[:j]}
        live = [i for i in range(len(pool)) if feasible[i] and i not in seen]
        top = set(sorted(live, key=lambda i: rank[i])[: math.ceil(len(live) / 4)])
        assert index[state.asked[j]] in top
    plain, *_ = _run(_cfg(None))
    assert plain.asked[:10] == state.asked[:10]  # the initial design does not use proxies
    assert plain.asked[10:] != state.asked[10:]


def test_proxy_feature_from_a_values_file_matches_the_live_scorer(tmp_path):
    cfg = _cfg({"names": ["nonembed_params"], "prescreen": 2})
    live, pool, *_ = _run(cfg)
    from supernet.proxies import complexity

    rows = [
        {"nonembed_params": float(v)}
        for v in complexity.values(cfg.space, pool, ["nonembed_params"])["nonembed_params"]
    ]
    path = tmp_path / "scores.jsonl"
    path.write_text(
        "".join(
            json.dumps({"arch": a.to_dict(), "metrics": r}) + "\n" for a, r in zip(pool, rows, strict=True)
        )
    )
    from_file, *_ = _run(_cfg({"names": ["nonembed_params"], "prescreen": 2, "values": str(path)}))
    assert from_file.asked == live.asked  # and the same seed gives the same proposals
    short = tmp_path / "short.jsonl"
    short.write_text(path.read_text().splitlines()[0] + "\n")  # one row only: the others are named
    with pytest.raises(NasError, match="strategy.proxies.values.*has no row for"):
        _run(_cfg({"names": ["nonembed_params"], "prescreen": 2, "values": str(short)}))


def test_without_a_pool_the_prescreen_draws_k_times_the_candidates():
    from nas.strategies.proxy_guide import ProxyGuide, cached

    space = search_config.load(CONFIG).space
    calls: list[int] = []

    def raw(archs):
        calls.append(len(archs))
        return [{"p": float(a.embed_dim * a.depth)} for a in archs]

    guide = ProxyGuide(cached(raw, ["p"]), ("p",), feature=True, prescreen=3)
    s = S.make("bayesian", space, initial=3, candidates=20, proxies=guide)

    def evaluate(archs):
        return np.array([[-a.embed_dim / (1 + a.depth), a.depth] for a in archs], float), np.zeros(len(archs))

    state = S.run_sequential(s, evaluate, budget=6, seed=1, lag=1)
    again = S.run_sequential(s, evaluate, budget=6, seed=1, lag=1)
    assert state.asked == again.asked and len(set(state.asked)) == 6
    assert max(calls) >= 50  # 3 x 20 candidates scored (minus repeats), then 20 kept for the surrogate


def test_proxy_search_study_runs_and_resumes(tmp_path):
    """The study's vit-mnist part, 2 seeds (table lookups, about a second per run)."""
    from experiments import proxy_search_study as study

    argv = [
        "--problems",
        "vit-mnist",
        "--seeds",
        "2",
        "--cache",
        str(tmp_path / "c"),
        "--out",
        str(tmp_path / "r"),
    ]
    assert study.main(argv) == 0
    res = json.loads((tmp_path / "r.json").read_text())["problems"]["vit-mnist"]
    assert set(res["variants"]) == set(study.VARIANTS) and res["variants"]["+both"]["n"] == 2
    hv = res["variants"]["bayesian"]["per_seed"]
    assert all(0 < x <= 1 + 1e-9 for row in hv for x in row)
    assert study.main([*argv, "--report-only"]) == 0  # from the cache alone: the same figures
    assert (
        json.loads((tmp_path / "r.json").read_text())["problems"]["vit-mnist"]["variants"]["bayesian"][
            "per_seed"
        ]
        == hv
    )
    assert "| +prescreen4 | 2 |" in (tmp_path / "r.md").read_text()


def test_proxies_on_a_space_that_cannot_be_built_fail_at_load():
    strat = {"name": "bayesian", "proxies": {"names": ["nonembed_params"], "prescreen": 4}}
    with pytest.raises(
        NasError, match=r"^field 'strategy.proxies.names': space 'hwgpt-l' cannot be built.*values: FILE"
    ):
        search_config.load("experiments/search_hwgpt_l.yaml", [f"strategy={json.dumps(strat)}"])


def test_the_documented_strategy_block_loads():
    """docs/proxies.md's `strategy:` block is a valid strategy of a search config."""
    import re

    import yaml
    from conftest import ROOT

    text = (ROOT / "docs/proxies.md").read_text().split("## Proxies inside a Bayesian search", 1)[1]
    block = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", text, flags=re.S)[0])
    cfg = search_config.load(CONFIG, [f"strategy={json.dumps(block['strategy'])}"])
    assert cfg.strategy == "bayesian" and cfg.strategy_options["proxies"]["prescreen"] == 4
