"""Chance constraints: ``latency_ms[DEV].q90 <= B`` bounds the calibrated 90 % upper bound."""

from __future__ import annotations

import pytest

import predictors
from nas import hw_metrics, search_config
from nas.objectives import parse_constraint
from search_spaces import NasError


def test_metric_names_parse_and_roundtrip():
    c = parse_constraint("latency_ms[cpu-host].q90 <= 5")
    assert c.metric == "latency_ms[cpu-host].q90" and c.bound == 5
    h = hw_metrics.parse(c.metric)
    assert h == ("latency_ms", "cpu-host", 0.9) and h.name == c.metric
    assert hw_metrics.parse("latency_ms[x].q975").q == 0.975
    assert hw_metrics.parse("latency_ms[x]").q is None and hw_metrics.parse("params") is None
    with pytest.raises(NasError, match="q0"):
        hw_metrics.parse("latency_ms[x].q0")


def _raw(bound: float, **kw):
    return {
        "space": "vit-mnist",
        "evaluators": [{"kind": "complexity"}, {"kind": "latency", "device": "cpu-host"}],
        "objectives": [{"metric": "params", "goal": "max"}],
        "constraints": [f"latency_ms[cpu-host].q90 <= {bound}"],
        "strategy": {"name": "random"},
        "budget": 12,
        "seed": 0,
        "workers": 1,
        **kw,
    }


def test_config_asks_the_latency_evaluator_for_the_bound():
    cfg = search_config.check(_raw(0.5))
    (lat,) = [s for s in cfg.evaluators if s["kind"] == "latency"]
    assert lat["quantiles"] == [0.9] and cfg.raw["evaluators"][1]["quantiles"] == [0.9]
    with pytest.raises(NasError, match="latency_ms\\[other\\].q90"):
        search_config.check(_raw(0.5, constraints=["latency_ms[other].q90 <= 1"]))
    with pytest.raises(NasError, match="quantiles"):
        search_config.check(
            _raw(0.5, evaluators=[{"kind": "latency", "device": "cpu-host", "quantiles": [1.5]}])
        )


def test_search_records_mean_and_bound_and_meets_the_bound(ray_local, tmp_path, vit_space):
    """README's chance-constrained search (experiments/search_latency_chance.yaml), shortened."""
    from conftest import ROOT

    from nas import runner

    p = predictors.load("cpu-host", space="vit-mnist")
    cfg = search_config.load(
        ROOT / "experiments/search_latency_chance.yaml", ["budget=12", "strategy.population=6"]
    )
    bound = cfg.constraints[0].bound
    q90 = p.predict_quantile(vit_space.sample_many(5, 200), 0.9)
    assert 0.2 < (q90 <= bound).mean() < 0.8  # the bound cuts the space
    res = runner.run_search(cfg, tmp_path / "run", workers=1, progress=False)
    recs = [r for r in res.records if r.get("metrics")]
    assert len(recs) == 12
    for r in recs:
        m = r["metrics"]
        mean, hi = m["latency_ms[cpu-host]"], m["latency_ms[cpu-host].q90"]
        assert hi > mean > 0
        arch = vit_space.parse(r["arch"])
        assert hi == pytest.approx(float(p.predict_quantile([arch], 0.9)[0]))
        assert hi <= bound  # the cheap bound is checked before proposing: no infeasible evaluation


def test_export_card_shows_mean_bound_and_measured(vit_space):
    from nas.export.card import card_text
    from nas.export.from_run import predicted_latency

    arch = vit_space.sample_many(1, 1)[0]
    mean = float(predictors.load("cpu-host", space="vit-mnist").predict([arch])[0])
    lat, bounds = predicted_latency(vit_space, arch, {"latency_ms[cpu-host]": mean, "accuracy": 0.5})
    assert lat == {"cpu-host": mean} and bounds["cpu-host"]["q90"] > mean
    config = {
        "arch": arch.to_dict(),
        "space": vit_space.to_dict(),
        "complexity": {"params": 1000, "flops": 2000},
        "predicted_latency_ms": lat,
        "predicted_latency_bounds_ms": bounds,
        "measured_latency": {"median_ms": 0.123, "backend": "jax"},
    }
    text = card_text(config)
    assert f"{mean:.3f} ms" in text and f"{bounds['cpu-host']['q90']:.3f} ms" in text
    assert "90 % upper bound" in text and "0.123 ms" in text


@pytest.mark.parametrize("name", ["wmt14ende_cpu_raspberrypi_all.csv", "wmt14ende_cpu_xeon_all.csv",
                                  "wmt14ende_gpu_titanxp_all.csv"])  # fmt: skip
def test_a_chance_constraint_holds_on_unseen_rows_of_real_measurements(name):
    """On HAT's real measurements (200 rows the model never saw): the 0.9 upper bound is met by
    ~90 % of rows, and the rows a `q90 <= B` constraint admits break B less often than those a
    mean constraint admits, and at most 10 % of the time (B: the lower quartile of predictions)."""
    import numpy as np
    from conftest import SHARED

    from predictors import hat, intervals
    from predictors.fitting import fit_and_score

    X, y = hat.load(SHARED / "data" / "hat" / name)
    r = fit_and_score(X, y, seed=0, test_fraction=0.1, refit=False)
    mean, yt = r["pred"], y[r["test_idx"]]
    q90 = intervals.upper(mean, r["residuals"], 0.9)
    assert 84 <= 100 * (yt <= q90).mean() <= 96  # 200 rows: +-2.1 points of binomial noise
    bound = np.quantile(mean, 0.25)
    broken_chance = (yt[q90 <= bound] > bound).mean()
    broken_mean = (yt[mean <= bound] > bound).mean()
    assert broken_chance <= min(0.1, broken_mean) and (q90 <= bound).sum() >= 20
