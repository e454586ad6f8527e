"""A small ensemble of the candidate models: the geometric mean of their predictions.

Averaging the predictions of differently biased models (a ridge polynomial that
extrapolates smoothly, extremely randomized trees that fit interactions but not
trends) cancels part of each one's error (Breiman, "Stacked regressions",
Machine Learning 1996, and the model-averaging results it cites; here with
equal weights, nothing fitted on top, so it costs only its members' fits).
The mean is taken in log space, as the latencies' errors are relative; the
uncertainty is the members' spread plus their own mean relative spread.
"""

from __future__ import annotations

import functools

import numpy as np

from predictors.models import linear, trees

MEMBERS = ("poly2", "trees")
# The members' (fit, predict), read here rather than through ``predictors.models.get``
# so that the registry and this model do not import each other.
_MEMBER_MODELS = {
    "poly2": (functools.partial(linear.fit, degree=2), linear.predict),
    "trees": (trees.fit, trees.predict),
}


def fit(
    X: np.ndarray, y: np.ndarray, *, seed: int = 0, members: tuple[str, ...] = MEMBERS
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"members": np.asarray(list(members))}
    for name in members:
        out.update({f"{name}.{k}": v for k, v in _MEMBER_MODELS[name][0](X, y, seed=seed).items()})
    return out


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logs, rel = [], []
    for name in [str(m) for m in params["members"]]:
        mean, std = _MEMBER_MODELS[name][1]({k.split(".", 1)[1]: v for k, v in params.items()
                                              if k.startswith(f"{name}.")}, X)  # fmt: skip
        logs.append(np.log(np.maximum(mean, 1e-12)))
        rel.append(std / np.maximum(mean, 1e-12))
    logs = np.stack(logs)
    mean = np.exp(logs.mean(0))
    return mean, mean * np.sqrt(logs.var(0) + np.mean(rel, 0) ** 2)
