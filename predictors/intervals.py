"""Calibrated prediction intervals from cross-validated residuals (conformal prediction).

The conformity score of a row is its log ratio ``r = log(y / y_hat)`` where
``y_hat`` is the prediction of a model that did not see the row (out-of-fold in
K-fold cross-validation: the CV+ scheme of Barber, Candes, Ramdas & Tibshirani,
"Predictive inference with the jackknife+", Annals of Statistics 2021; split
conformal prediction of Vovk et al. 2005 / Lei et al. 2018 is the one-fold case).
A log ratio makes the interval relative (a 1 ms and a 100 ms architecture get the
same +-%), which is what latency errors look like.

With ``n`` sorted scores, the upper ``q`` bound of a new prediction ``m`` is
``m * exp(r_(k))`` with ``k = ceil((n + 1) q)``: under exchangeability it holds
with probability at least ``q``.  A central ``level`` interval takes
``q = (1 + level) / 2`` above and ``(1 - level) / 2`` below.  Pure functions of
the stored scores; nothing is refitted at query time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from search_spaces import NasError


def scores(y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """Sorted conformity scores ``log(y / y_hat)`` of out-of-sample predictions."""
    y, y_hat = np.asarray(y, np.float64), np.asarray(y_hat, np.float64)
    return np.sort(np.log(y / np.maximum(y_hat, 1e-12)))


def _check_q(q: float) -> float:
    if not (isinstance(q, (int, float)) and 0 < q < 1):
        raise NasError(f"field 'quantile': must be in (0, 1), got {q!r}")
    return float(q)


def score_quantile(res: np.ndarray, q: float) -> float:
    """The conformal ``q`` quantile of sorted scores ``res`` (finite-sample corrected).

    Beyond what ``n`` scores can certify (``ceil((n+1) q) > n``) the largest
    score is returned: the bound is then as wide as the data allow, not infinite.
    """
    q = _check_q(q)
    res = np.asarray(res, np.float64)
    n = len(res)
    if n == 0:
        raise NasError("field 'conformal': the predictor has no calibration scores; refit it")
    if q >= 0.5:
        k = min(max(math.ceil((n + 1) * q), 1), n)
    else:
        k = min(max(math.floor((n + 1) * q), 1), n)
    return float(res[k - 1])


def upper(mean: np.ndarray, res: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` upper bound of each prediction (``latency_ms[dev].q90`` is q=0.9)."""
    return np.asarray(mean, np.float64) * math.exp(score_quantile(res, q))


def interval(mean: np.ndarray, res: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): a central interval meant to cover ``level`` of unseen architectures."""
    level = _check_q(level)
    m = np.asarray(mean, np.float64)
    lo = score_quantile(res, (1 - level) / 2)
    hi = score_quantile(res, (1 + level) / 2)
    return m * math.exp(lo), m * math.exp(hi)


def calibrated_std(mean: np.ndarray, res: np.ndarray) -> np.ndarray:
    """A one-sigma spread: half the central 68.27 % interval (so ~68 % of errors lie within it)."""
    lo, hi = interval(mean, res, 0.6827)
    return (hi - lo) / 2


def coverage(y: np.ndarray, mean: np.ndarray, res: np.ndarray, level: float = 0.9) -> float:
    """Share (%) of ``y`` inside the ``level`` intervals around ``mean``."""
    lo, hi = interval(mean, res, level)
    y = np.asarray(y, np.float64)
    return float(100 * ((y >= lo) & (y <= hi)).mean())


def interval_meta(r: dict[str, Any]) -> dict[str, Any]:
    """What the stored intervals are and how well they covered unseen rows."""
    return {
        "method": "CV+ conformal on log(y / y_hat) (Barber et al. 2021)",
        "level": 0.9,
        "heldout_coverage_pct": r["coverage90_pct"],
        "heldout_n": int(len(r["test_idx"])),
        "nested_cv_coverage_pct": r["coverage90_cv_pct"],
        "n_scores": int(len(r["residuals"])),
    }
