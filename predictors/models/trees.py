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

from predictors.models import linear
from predictors.models.inputs import check_xy, log_inputs


def fit(
    X: np.ndarray, y: np.ndarray, *, seed: int = 0, n_trees: int = 32, max_depth: int = 8
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
    out = {f"base.{k}": v for k, v in base.items()}
    out.update(export(est))
    return out


def export(est) -> dict[str, np.ndarray]:
    """A fitted sklearn forest as arrays: for node i, ``child[2i]`` / ``child[2i+1]`` are the
    left / right child (a leaf points to itself), ``feature``, ``threshold``, ``value``."""
    child, feat, thr, val, roots = [], [], [], [], []
    offset = 0
    for t in est.estimators_:
        tr = t.tree_
        own = np.arange(tr.node_count)
        leaf = tr.children_left < 0
        lr = np.stack([np.where(leaf, own, tr.children_left), np.where(leaf, own, tr.children_right)], 1)
        child.append((lr + offset).ravel())
        feat.append(np.where(leaf, 0, tr.feature))
        thr.append(np.where(leaf, np.inf, tr.threshold))
        val.append(tr.value[:, 0, 0])
        roots.append(offset)
        offset += tr.node_count
    return {
        "child": np.concatenate(child).astype(np.int64),
        "feature": np.concatenate(feat).astype(np.int64),
        "threshold": np.concatenate(thr),
        "value": np.concatenate(val),
        "roots": np.asarray(roots, np.int64),
        "max_depth": np.asarray(max(t.tree_.max_depth for t in est.estimators_)),
    }


def leaf_values(params: dict[str, np.ndarray], Z: np.ndarray) -> np.ndarray:
    """(n, trees) leaf values of inputs ``Z`` (already log-transformed)."""
    n, F = Z.shape
    flat = np.ascontiguousarray(Z).ravel()
    row = (np.arange(n, dtype=np.int64) * F)[:, None]
    node = np.broadcast_to(params["roots"][None, :], (n, len(params["roots"])))
    child, feat, thr = params["child"], params["feature"], params["threshold"]
    for _ in range(int(params["max_depth"])):
        go_right = flat[row + feat[node]] > thr[node]
        node = child[2 * node + go_right]
    return params["value"][node]


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    b, _ = linear.predict({k[5:]: v for k, v in params.items() if k.startswith("base.")}, X)
    r = leaf_values(params, log_inputs(X))
    mean = np.maximum(b, 1e-9) * np.exp(r.mean(1))
    return mean, mean * r.std(1)
