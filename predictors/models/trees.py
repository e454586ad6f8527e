"""Extremely randomized trees (Geurts et al., Machine Learning 2006) on log features.

Fitted with scikit-learn, then exported as plain arrays (children, split
feature, threshold, leaf value per node, all trees concatenated) so a fitted
model is data in an npz file, never a pickle; prediction walks the arrays in
numpy.  The spread of the trees' predictions is the uncertainty.  Trees do not
extrapolate beyond the training range; the residual over the linear model
keeps the trend and lets the trees fit what the roofline misses.
"""

from __future__ import annotations

import numpy as np

from predictors.models import check_xy, linear, log_inputs


def fit(
    X: np.ndarray, y: np.ndarray, *, seed: int = 0, n_trees: int = 64, max_depth: int = 10
) -> dict[str, np.ndarray]:
    from sklearn.ensemble import ExtraTreesRegressor

    X, y = check_xy(X, y)
    base = linear.fit(X, y)
    b, _ = linear.predict(base, X)
    b = np.maximum(b, 1e-3 * y.min())
    r = np.log(y) - np.log(b)
    est = ExtraTreesRegressor(
        n_estimators=n_trees, max_depth=max_depth, min_samples_leaf=2, random_state=seed
    ).fit(log_inputs(X), r)
    left, right, feat, thr, val, roots = [], [], [], [], [], []
    offset = 0
    for t in est.estimators_:
        tr = t.tree_
        leaf = tr.children_left < 0
        left.append(np.where(leaf, np.arange(tr.node_count), tr.children_left) + offset)
        right.append(np.where(leaf, np.arange(tr.node_count), tr.children_right) + offset)
        feat.append(np.where(leaf, 0, tr.feature))
        thr.append(np.where(leaf, np.inf, tr.threshold))
        val.append(tr.value[:, 0, 0])
        roots.append(offset)
        offset += tr.node_count
    out = {f"base.{k}": v for k, v in base.items()}
    out.update(
        left=np.concatenate(left).astype(np.int32),
        right=np.concatenate(right).astype(np.int32),
        feature=np.concatenate(feat).astype(np.int32),
        threshold=np.concatenate(thr),
        value=np.concatenate(val),
        roots=np.asarray(roots, np.int32),
        max_depth=np.asarray(max(t.tree_.max_depth for t in est.estimators_)),
    )
    return out


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    Z = log_inputs(X)
    b, _ = linear.predict({k[5:]: v for k, v in params.items() if k.startswith("base.")}, X)
    b = np.maximum(b, 1e-9)
    rows = np.arange(len(X))[:, None]
    node = np.broadcast_to(params["roots"][None, :], (len(X), len(params["roots"]))).copy()
    for _ in range(int(params["max_depth"])):
        go_left = Z[rows, params["feature"][node]] <= params["threshold"][node]
        node = np.where(go_left, params["left"][node], params["right"][node])
    r = params["value"][node]  # (n, trees)
    mean = b * np.exp(r.mean(1))
    return mean, mean * r.std(1)
