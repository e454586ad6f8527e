"""The predictor model choice (repeated K-fold among candidates within noise), the
blend of candidates, and HAT's MLP recipe, on HAT's real measurements."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import SHARED

from predictors import hat, models
from predictors.fitting import BLEND_ROWS, REPEATS, choose, enough_rows
from predictors.tabular import split

XEON = SHARED / "data" / "hat" / "wmt14ende_cpu_xeon_all.csv"


@pytest.fixture(scope="module")
def xeon():
    X, y = hat.load(XEON)
    tr, te = split(len(y), seed=0, test_fraction=0.1)
    return X[tr], y[tr], X[te], y[te]


def test_candidates_within_noise_are_chosen_by_repeated_k_fold(xeon):
    X, y, _, _ = xeon
    best, cv, _ = choose(X[:600], y[:600], ("linear", "poly2", "trees"), seed=0)
    repeated = {c for c, s in cv.items() if "within10_repeats" in s}
    assert best in repeated and len(repeated) >= 2  # on this file they are within a few rows
    for c in repeated:
        runs = cv[c]["within10_repeats"]
        assert len(runs) == REPEATS and runs[0] == cv[c]["within10_pct"] and len(set(runs)) > 1
        assert cv[c]["within10_mean"] == pytest.approx(np.mean(runs)) and cv[c]["within10_sd"] > 0
    assert cv[best]["within10_mean"] == max(cv[c]["within10_mean"] for c in repeated)


def test_blend_is_the_geometric_mean_of_poly2_and_trees_and_saves_as_plain_arrays(xeon):
    X, y, Xt, yt = xeon
    p = models.get("blend").fit(X, y, seed=0)
    a = models.get("poly2").predict(models.get("poly2").fit(X, y, seed=0), Xt)[0]
    b = models.get("trees").predict(models.get("trees").fit(X, y, seed=0), Xt)[0]
    mean, std = models.get("blend").predict(p, Xt)
    assert mean == pytest.approx(np.sqrt(a * b)) and (std > 0).all()
    buf = io.BytesIO()
    np.savez(buf, **p)
    buf.seek(0)
    back = dict(np.load(buf, allow_pickle=False))
    assert models.get("blend").predict(back, Xt)[0] == pytest.approx(mean)
    assert enough_rows(("linear", "blend"), BLEND_ROWS - 1) == ("linear",)
    assert enough_rows(("linear", "blend"), BLEND_ROWS) == ("linear", "blend")


def test_hat_mlp_recipe_is_four_relu_layers_of_400_on_max_scaled_inputs(xeon):
    X, y, Xt, yt = xeon
    p = models.get("hat_mlp").fit(X[:400], y[:400], seed=0, steps=40, lr=3e-3)  # the recipe: 5,000 at 1e-5
    shapes = [p[f"W{i}"].shape for i in range(5)]
    assert shapes == [(10, 400), (400, 400), (400, 400), (400, 400), (400, 1)]
    assert p["x_norm"] == pytest.approx(np.abs(X[:400]).max(0)) and float(p["y_norm"]) == y[:400].max()
    mean, std = models.get("hat_mlp").predict(p, Xt)
    assert (mean > 0).all() and (std > 0).all()
    # trained: better than predicting the mean latency
    assert np.mean(np.abs(mean - yt) / yt) < np.mean(np.abs(y[:400].mean() - yt) / yt)
