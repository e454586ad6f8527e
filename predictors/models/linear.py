"""Linear model on physics features: latency = b + sum_k w_k x_k.

With per-op-kind MACs and bytes as features this is a roofline-style model
(Williams et al., CACM 2009): each weight is a device's time per MAC or byte of
an op kind.  Fitted by weighted ridge least squares with weights 1/y, so that
the error minimised is relative (what "within +-10 %" scores), not absolute.
A line fitted on few or noisy rows can extrapolate below zero, so predictions
are floored at half the fastest latency seen in fitting.
"""

from __future__ import annotations

import numpy as np

from predictors.models.inputs import check_xy


def expand(X: np.ndarray, degree: int) -> np.ndarray:
    """X with all products of up to ``degree`` columns (degree 1: X itself)."""
    from itertools import combinations_with_replacement

    X = np.asarray(X, dtype=np.float64)
    cols = [
        X[:, list(c)].prod(1)
        for d in range(2, degree + 1)
        for c in combinations_with_replacement(range(X.shape[1]), d)
    ]
    return np.hstack([X, np.stack(cols, 1)]) if cols else X


def fit(
    X: np.ndarray, y: np.ndarray, *, seed: int = 0, ridge: float = 1e-6, degree: int = 1
) -> dict[str, np.ndarray]:
    X, y = check_xy(X, y)
    X = expand(X, degree)
    scale = np.abs(X).max(0)
    scale[scale == 0] = 1.0
    Z = np.hstack([np.ones((len(X), 1)), X / scale])
    w = y.mean() / y
    Zw, yw = Z * w[:, None], y * w
    reg = ridge * np.eye(Z.shape[1])
    reg[0, 0] = 0.0
    coef = np.linalg.solve(Zw.T @ Zw + reg * len(X), Zw.T @ yw)
    pred = Z @ coef
    rel = np.std((y - pred) / y)
    return {
        "coef": coef,
        "scale": scale,
        "rel_std": np.asarray(rel),
        "degree": np.asarray(degree),
        "floor": np.asarray(0.5 * y.min()),
    }


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = expand(X, int(params.get("degree", 1)))
    coef = params["coef"]
    mean = np.maximum(coef[0] + (X / params["scale"]) @ coef[1:], float(params.get("floor", 1e-9)))
    return mean, np.abs(mean) * float(params["rel_std"])
