"""Tables from other tools, free objectives, local moves and a fixed hypervolume
reference, on small slices of the real HW-GPT-Bench M table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, SHARED

from nas import search_config
from nas.free import build_free
from nas.objectives import hypervolume, table_reference
from nas.strategies import Domain
from nas.table import read_table, table_archs
from search_spaces import load_space, operators
from search_spaces.errors import NasError

HWGPT_M = SHARED / "data" / "hwgpt" / "hwgpt_m_perplexity.jsonl"
FIELDS = {
    "depth": "sample_n_layer",
    "embed_dim": "sample_embed_dim",
    "bias": "sample_bias",
    "num_heads": "sample_n_head",
    "mlp_ratio": "sample_mlp_ratio",
}
SPACE = load_space(str(ROOT / "experiments" / "spaces" / "hwgpt-m.yaml"))


@pytest.fixture(scope="module")
def slice_m(tmp_path_factory):
    """The first 300 rows of the M table, in HW-GPT-Bench's own format."""
    lines = HWGPT_M.read_text().splitlines()[:300]
    path = tmp_path_factory.mktemp("hwgpt") / "m300.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, [json.loads(x) for x in lines]


def test_external_format_renames_cuts_lists_and_reads_top_level_metrics(slice_m):
    path, rows = slice_m
    table = read_table(path, fields=FIELDS, metrics=["perplexity", "params"])
    archs = table_archs(path, SPACE, fields=FIELDS, metrics=["perplexity", "params"])
    assert len(archs) == len(table) == 300
    a, r = archs[0], rows[0]["arch"]
    assert a.depth == r["sample_n_layer"] and len(a["num_heads"]) == a.depth
    assert list(a["num_heads"]) == r["sample_n_head"][: a.depth]
    assert table[a.to_json()] == {"perplexity": rows[0]["perplexity"], "params": rows[0]["params"]}


def test_duplicates_and_bad_rows_name_their_lines(tmp_path, slice_m):
    _, rows = slice_m
    twin = dict(rows[0], perplexity=rows[0]["perplexity"] + 1)
    dup = tmp_path / "dup.jsonl"
    dup.write_text("\n".join(json.dumps(x) for x in [rows[0], rows[1], twin]) + "\n")
    with pytest.raises(NasError, match=r"lines 1 and 3 hold the same architecture"):
        read_table(dup, fields=FIELDS, metrics=["perplexity"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"arch": rows[1]["arch"]}) + "\n")
    with pytest.raises(NasError, match=r"bad.jsonl' line 2: .*perplexity"):
        read_table(bad, fields=FIELDS, metrics=["perplexity"])
    outside = tmp_path / "outside.jsonl"
    wide = dict(rows[0], arch=dict(rows[0]["arch"], sample_embed_dim=300))
    outside.write_text(json.dumps(rows[1]) + "\n" + json.dumps(wide) + "\n")
    with pytest.raises(NasError, match=r"outside.jsonl' line 2: .*embed_dim"):
        table_archs(outside, SPACE, fields=FIELDS, metrics=["perplexity"])
    with pytest.raises(NasError, match="evaluators\\[0\\].fields"):
        search_config.check(
            {
                "space": SPACE.to_dict(),
                "evaluators": [{"kind": "table", "path": str(bad), "fields": ["depth"]}],
                "objectives": ["min perplexity"],
            }
        )


def test_free_objectives_are_the_table_columns_declared_free(slice_m):
    path, rows = slice_m
    cfg = search_config.check(
        {
            "space": SPACE.to_dict(),
            "evaluators": [
                {"kind": "table", "path": str(path), "fields": FIELDS, "metrics": ["perplexity", "params"]}
                | {"free": ["params"]}
            ],
            "objectives": ["min perplexity", "min params"],
        }
    )
    free = build_free(cfg.evaluators, cfg.objectives, cfg.space)
    archs = table_archs(path, SPACE, fields=FIELDS, metrics=["perplexity", "params"])[:3]
    F = free.fn(archs)
    assert free.columns == (False, True)
    assert np.isnan(F[:, 0]).all() and F[:, 1].tolist() == [r["params"] for r in rows[:3]]
    no_free = dict(cfg.evaluators[0])
    no_free.pop("free")
    assert build_free([no_free], cfg.objectives, cfg.space) is None


@pytest.mark.parametrize("prob, lo, hi", [(None, 1.0, 1.6), (0.6, 2.5, 3.5)])
def test_mutation_changes_one_or_a_few_dimensions(prob, lo, hi):
    rng = np.random.default_rng(0)
    a = SPACE.sample(1)
    dims, sites = [], []
    for _ in range(300):
        b = operators.mutate_local(SPACE, a, rng, prob=prob)
        SPACE.validate(b)
        changed = [d for d in ("depth", "embed_dim", "bias") if a[d] != b[d]]
        changed += [d for d in ("num_heads", "mlp_ratio") if a[d][: b.depth] != b[d][: a.depth]]
        dims.append(len(changed))
        sites.append(
            sum(x != y for d in ("num_heads", "mlp_ratio") for x, y in zip(a[d], b[d], strict=False))
        )
    assert min(dims) >= 1 and lo <= np.mean(dims) <= hi
    assert np.mean(sites) <= 3  # a per-layer dimension changes one or a few slots


def test_table_moves_keep_what_the_mutation_kept(slice_m):
    path, rows = slice_m
    pool = table_archs(path, SPACE, fields=FIELDS, metrics=["perplexity", "params"])
    params = {a.to_json(): r["params"] for a, r in zip(pool, rows, strict=True)}
    domain = Domain(SPACE, pool=pool)
    rng = np.random.default_rng(0)
    same, step, jump = [], [], []
    for parent in pool[:60]:
        mutant = operators.mutate_local(SPACE, parent, rng)
        child = domain.project(mutant, rng, {parent.to_json()})
        same.append(all(child[d] == mutant[d] for d in ("embed_dim", "bias")))
        if all(mutant[d] == parent[d] for d in ("embed_dim", "bias", "depth")):  # a per-layer move
            step.append(abs(np.log(params[child.to_json()] / params[parent.to_json()])))
            other = pool[int(rng.integers(len(pool)))]
            jump.append(abs(np.log(params[other.to_json()] / params[parent.to_json()])))
    assert np.mean(same) >= 0.95 and len(step) >= 10 and np.median(step) < 0.25 * np.median(jump)


def test_reference_is_fixed_by_the_rows():
    F = np.array([[1.0, 4.0], [2.0, 2.0], [4.0, 1.0], [3.0, 3.0]])
    ref = table_reference(F)
    assert np.allclose(ref, [4.0004, 4.0004])
    assert hypervolume(F, ref) == pytest.approx(hypervolume(F, [4.0004, 4.0004]))
    assert hypervolume(F[:2], ref) < hypervolume(F, ref)


def test_ehvi_in_closed_form_matches_monte_carlo():
    from nas.strategies.acquisition import ehvi_one_uncertain, hvi_2d

    front, ref = np.array([[1.0, 4.0], [2.0, 2.5], [3.0, 1.5]]), np.array([5.0, 5.0])
    mu, sd, known = np.array([2.0, 1.0, 4.0]), np.array([0.5, 1.0, 0.3]), np.array([2.0, 3.0, 0.5])
    z = np.random.default_rng(0).standard_normal(100_000)
    for u in (0, 1):
        exact = ehvi_one_uncertain(front, ref, mu, sd, known, u=u)
        for i in range(3):
            pts = np.empty((len(z), 2))
            pts[:, u], pts[:, 1 - u] = mu[i] + sd[i] * z, known[i]
            assert exact[i] == pytest.approx(hvi_2d(front, ref, pts).mean(), rel=0.01)
    assert hvi_2d(front, ref, np.array([[2.5, 3.0], [0.5, 0.5]])).tolist() == [
        0.0,
        pytest.approx(20.25 - 10.5),
    ]


@pytest.fixture(scope="module")
def hwgpt_l():
    """The real L table (429 rows), min perplexity and min params (free)."""
    from nas import runner

    cfg = search_config.check(
        {
            "space": str(ROOT / "experiments" / "spaces" / "hwgpt-l.yaml"),
            "evaluators": [
                {
                    "kind": "table",
                    "path": str(SHARED / "data" / "hwgpt" / "hwgpt_l_perplexity.jsonl"),
                    "fields": FIELDS,
                    "metrics": ["perplexity", "params"],
                    "free": ["params"],
                }
            ],
            "objectives": ["min perplexity", "min params"],
        }
    )
    table = read_table(cfg.evaluators[0]["path"], fields=FIELDS, metrics=["perplexity", "params"])
    F_all = np.array([[m["perplexity"], m["params"]] for m in table.values()])

    def evaluate(archs):
        return np.array(
            [[table[a.to_json()]["perplexity"], table[a.to_json()]["params"]] for a in archs]
        ), np.zeros(len(archs))

    free = build_free(cfg.evaluators, cfg.objectives, cfg.space)
    return cfg, runner.build_pool(cfg), free, evaluate, table_reference(F_all), F_all


def test_initial_design_starts_at_the_free_minimum(hwgpt_l):
    cfg, pool, free, _, _, F_all = hwgpt_l
    domain = Domain(cfg.space, pool=pool, free=free)
    first = domain.initial(np.random.default_rng(0), 6, set())
    params = free.fn(first)[:, 1]
    assert params[0] == F_all[:, 1].min() and len({a.to_json() for a in first}) == 6


@pytest.mark.parametrize("name", ["bayesian", "local", "evolution"])  # aging, nsga2: same picker
def test_beats_random_on_the_real_hwgpt_l_table(hwgpt_l, name):
    from nas import strategies as S
    from nas.objectives import pareto_mask

    cfg, pool, free, evaluate, ref, F_all = hwgpt_l
    exact = hypervolume(F_all[pareto_mask(F_all)], ref)

    def hv(strategy, seed):
        s = S.make(strategy, cfg.space, pool=pool, free=free)
        F = np.array(S.run_sequential(s, evaluate, budget=40, seed=seed, lag=2).F)
        return hypervolume(F[pareto_mask(F)], ref) / exact

    ours = np.mean([hv(name, seed) for seed in range(2)])
    base = np.mean([hv("random", seed) for seed in range(2)])
    assert ours > base and ours > 0.95, (ours, base)


def test_readme_hwgpt_search_fixes_its_reference_and_defaults_to_bayesian(cli, hwgpt_l, tmp_path):
    import yaml

    from nas import runner

    *_, F_all = hwgpt_l
    run = tmp_path / "hwgpt-l"
    out = cli(
        "search", "experiments/search_hwgpt_l.yaml", "--set", "budget=14", "--run-dir", run, "--no-progress"
    )
    assert out.returncode == 0, out.stderr
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["strategy"] == {"name": "bayesian"}  # perplexity must be measured: the surrogate search
    assert saved["hv_reference"] == pytest.approx((F_all.max(0) * 1.0001).tolist())
    assert runner.load_run_config(run).hv_reference == pytest.approx(saved["hv_reference"])
    assert len((run / "history.jsonl").read_text().splitlines()) == 14 and "hypervolume" in out.stdout


def test_ensemble_surrogate_runs_and_is_deterministic(hwgpt_l):
    from nas import strategies as S

    cfg, pool, free, evaluate, *_ = hwgpt_l
    s = S.make("bayesian", cfg.space, pool=pool, free=free, model="ensemble", initial=6)
    a = S.run_sequential(s, evaluate, budget=8, seed=0, lag=2)
    b = S.run_sequential(s, evaluate, budget=8, seed=0, lag=2)
    assert a == b and len(set(a.asked)) == 8
    with pytest.raises(NasError, match="strategy.model"):
        S.make("bayesian", cfg.space, model="forest")


def test_search_study_and_proposals_benchmark_run(tmp_path, monkeypatch):
    """README's study (one problem, two strategies, one seed) and benchmark (a small pool)."""
    import sys

    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(ROOT)
    sys.modules.pop("experiments.search_study", None)
    from benchmarks.bench_search import proposals
    from experiments.search_study import main

    main(["--seeds", "1", "--problems", "hwgpt-l", "--strategies", "random,local", "--out", str(tmp_path),
          "--grid", "none", "--cache", ""])  # fmt: skip
    res = json.loads((tmp_path / "search_study.json").read_text())
    rows = res["problems"]["hwgpt-l"]["strategies"]
    assert rows["local"]["mean"][0] > rows["random"]["mean"][0]
    assert "| local |" in (tmp_path / "search_study.md").read_text()
    assert (tmp_path / "search_study.png").stat().st_size > 10_000
    assert proposals(700, 30, 2) > 0


def test_leave_one_table_out_reports_on_each_table_the_setting_chosen_on_the_other(monkeypatch):
    import sys

    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("experiments.search_study", None)
    from experiments.search_study import leave_one_table_out, markdown

    def row(*m):
        return {"mean": list(m), "std": [0.0] * 3, "ci95": [0.01] * 3, "seconds": 1.0}

    grid = {  # screen=4 wins on M, screen=1 on L: each is reported on the other table
        "hwgpt-m": {"local screen=1": row(0.90, 0.91, 0.92), "local screen=4": row(0.95, 0.96, 0.97)},
        "hwgpt-l": {"local screen=1": row(0.99, 0.99, 0.99), "local screen=4": row(0.93, 0.94, 0.95)},
    }
    res = {"budgets": [50, 100, 200], "seeds": 2, "grid": grid, "problems": {}}
    loto = leave_one_table_out(res)
    assert loto["hwgpt-l"]["local"]["setting"] == "local screen=4"
    assert loto["hwgpt-l"]["local"]["mean"] == [0.93, 0.94, 0.95]
    assert (
        loto["hwgpt-m"]["local"]["setting"] == "local screen=1"
        and loto["hwgpt-m"]["local"]["chosen_on"] == "hwgpt-l"
    )
    for name in grid:
        res["problems"][name] = {"rows": 1, "front_size": 1, "config": "c", "strategies": {
            "random": row(0.92, 0.93, 0.94), "local": row(0.96, 0.97, 0.98)}}  # fmt: skip
    res["loto"] = loto
    text = markdown(res)
    assert "| local screen=4 | **0.930 ± 0.010** | **0.940 ± 0.010** | **0.950 ± 0.010** |\n" in text


def test_surrogate_memo_does_not_leak_between_histories(hwgpt_l):
    """Hyperparameters are memoized by history prefix: a strategy object reused
    for another history proposes what a fresh one does (resume, determinism)."""
    from nas import strategies as S

    cfg, pool, free, evaluate, *_ = hwgpt_l
    used = S.make("bayesian", cfg.space, pool=pool, free=free, initial=4)
    S.run_sequential(used, evaluate, budget=14, seed=0, lag=2)
    again = S.run_sequential(used, evaluate, budget=14, seed=1, lag=3)
    fresh = S.run_sequential(
        S.make("bayesian", cfg.space, pool=pool, free=free, initial=4), evaluate, budget=14, seed=1, lag=3
    )
    assert again == fresh
