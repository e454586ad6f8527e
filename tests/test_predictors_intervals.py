"""Model choice by cross-validation and calibrated (conformal) intervals, on real measurements."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED

import predictors
from predictors import hat, intervals
from predictors.fitting import fit_and_score
from search_spaces import NasError

HAT = SHARED / "data" / "hat"
FEATS = ",".join(hat.FEATURES)
TGT = ",".join(hat.TARGETS)


def test_conformal_quantile_is_finite_sample_corrected():
    res = np.arange(1, 10, dtype=float)  # 9 scores: the 0.9 bound is the ceil(10 * 0.9) = 9th
    assert intervals.score_quantile(res, 0.9) == 9.0
    assert intervals.score_quantile(res, 0.5) == 5.0
    assert intervals.score_quantile(res, 0.05) == 1.0  # as wide as 9 scores allow
    with pytest.raises(NasError, match="quantile"):
        intervals.score_quantile(res, 1.5)
    lo, hi = intervals.interval(np.array([2.0]), np.log([0.9, 1.0, 1.1]), 0.5)
    assert lo[0] == pytest.approx(1.8) and hi[0] == pytest.approx(2.2)


@pytest.mark.parametrize("name", sorted(hat.BASELINES))
def test_default_fit_on_hat_files(name):
    """The CV-chosen default stays within the split's noise of the best of linear/poly2/trees,
    beats HAT's MLP, and its 90 % interval covers 88-92 % of the rows it never saw."""
    X, y = hat.load(HAT / name)
    r = fit_and_score(X, y, seed=0, test_fraction=0.1)
    kept = r["scores"][r["best"]]["within10_pct"]
    best = max(s["within10_pct"] for s in r["scores"].values())
    noise = 100 * np.sqrt(0.9 * 0.1 / len(r["test_idx"]))  # binomial sd of a 200-row share
    assert kept >= best - noise and kept > hat.BASELINES[name][1]
    assert 88.0 <= r["coverage90_cv_pct"] <= 92.0
    assert set(r["cv"]) == {"linear", "poly2", "trees", "blend"}  # the deep ensemble is not a default candidate
    assert len(r["residuals"]) == len(y)  # calibrated on all rows' out-of-fold predictions (refit)


def test_fit_csv_saves_a_device_that_query_and_list_use(cli, tmp_path):
    env = {"NAS_PREDICTORS": str(tmp_path / "reg")}
    csv = HAT / "wmt14ende_cpu_xeon_all.csv"
    r = cli(
        "latency", "fit", "--csv", csv, "--features", FEATS, "--target", TGT, "--model", "linear,poly2",
        "--device", "xeon", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "90 % interval covers" in r.stdout and "saved" in r.stdout
    meta = json.loads((tmp_path / "reg" / "xeon" / "csv-table.json").read_text())
    assert meta["columns"] == list(hat.FEATURES) and len(meta["csv_sha256"]) == 64
    assert 85 <= meta["interval"]["nested_cv_coverage_pct"] <= 95
    r = cli("latency", "list", env=env)
    assert r.returncode == 0 and "xeon" in r.stdout and "csv-table" in r.stdout
    rows = tmp_path / "rows.csv"
    lines = csv.read_text().splitlines()
    rows.write_text("\n".join(lines[:4]) + "\n")
    r = cli("latency", "query", "--device", "xeon", "--csv", rows, env=env)
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == 3
    for o in out:
        lo, hi = o["interval90_ms"]
        assert 0 < lo < o["latency_ms"] < hi
    row = ",".join(f"{k}={v}" for k, v in out[0]["row"].items())
    r = cli("latency", "query", "--device", "xeon", "--row", row, "--level", "0.5", env=env)
    one = json.loads(r.stdout)
    assert one["latency_ms"] == pytest.approx(out[0]["latency_ms"]) and "interval50_ms" in one
    r = cli("latency", "query", "--device", "xeon", "--row", "encoder_embed_dim=x", env=env)
    assert r.returncode == 2 and "encoder_embed_dim" in r.stderr and "Traceback" not in r.stderr


def test_shipped_predictor_has_calibrated_intervals(vit_space):
    p = predictors.load("cpu-host", space="vit-mnist")
    meta = p.meta["vit-mnist"]["interval"]
    assert 85 <= meta["nested_cv_coverage_pct"] <= 95 and meta["level"] == 0.9
    archs = vit_space.sample_many(3, 20)
    mean, lo, hi = p.predict_interval(archs)
    assert (lo < mean).all() and (mean < hi).all()
    q90 = p.predict_quantile(archs, 0.9)
    assert (q90 > mean).all() and (q90 < hi).all()
    np.testing.assert_allclose(p.predict_batch(predictors.registry.to_batch(vit_space, archs), q=0.9), q90)
