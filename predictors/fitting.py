"""Fit predictor models on a feature matrix and score them on held-out rows.

Shared by our own measurements (features of architectures) and other tools'
CSVs: same split (:func:`predictors.tabular.split`), same metrics.  The model
kept is the one fitted on the training rows, so its stored metrics are exactly
the held-out scores of what is shipped.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from predictors import models
from predictors.metrics import evaluate
from predictors.tabular import split
from search_spaces import NasError

DEFAULT_CANDIDATES = ("linear", "poly2", "trees", "ensemble")
# On architecture features (dozens of columns with the layer table) a degree-2
# expansion has thousands of columns: slow to query and fitted on a few hundred rows.
ARCH_CANDIDATES = ("linear", "trees", "ensemble")


def fit_and_score(
    X: np.ndarray,
    y: np.ndarray,
    *,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    seed: int = 0,
    test_fraction: float = 0.1,
) -> dict[str, Any]:
    """Fits each candidate on the train rows; returns scores, the best model and its params.

    Returns ``{"scores": {name: metrics}, "best": name, "params": params of best,
    "test_idx", "train_idx", "pred": best's test predictions}``.  Best = most
    predictions within +-10 %, ties broken by Kendall tau.
    """
    X, y = models.check_xy(X, y)
    tr, te = split(len(y), seed=seed, test_fraction=test_fraction)
    if len(tr) < 3:
        raise NasError(f"field 'rows': need more rows to fit, got {len(y)}")
    scores, fitted, preds = {}, {}, {}
    for name in candidates:
        m = models.get(name)
        p = m.fit(X[tr], y[tr], seed=seed)
        mean, _ = m.predict(p, X[te])
        scores[name], fitted[name], preds[name] = evaluate(y[te], mean), p, mean
    best = max(candidates, key=lambda k: (scores[k]["within10_pct"], scores[k]["kendall_tau"]))
    return {
        "scores": scores,
        "best": best,
        "params": fitted[best],
        "train_idx": tr,
        "test_idx": te,
        "pred": preds[best],
    }
