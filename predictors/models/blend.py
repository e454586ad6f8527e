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

import numpy as np

MEMBERS = ("poly2", "trees")


def fit(
    X: np.ndarray, y: np.ndarray, *, seed: int = 0, members: tuple[str, ...] = MEMBERS
) -> dict[str, np.ndarray]:
    from predictors import models

    out: dict[str, np.ndarray] = {"members": np.asarray(list(members))}
    for name in members:
        out.update({f"{name}.{k}": v for k, v in models.get(name).fit(X, y, seed=seed).items()})
    return out


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from predictors import models

    logs, rel = [], []
    for name in [str(m) for m in params["members"]]:
        mean, std = models.get(name).predict({k.split(".", 1)[1]: v for k, v in params.items()
                                              if k.startswith(f"{name}.")}, X)  # fmt: skip
        logs.append(np.log(np.maximum(mean, 1e-12)))
        rel.append(std / np.maximum(mean, 1e-12))
    logs = np.stack(logs)
    mean = np.exp(logs.mean(0))
    return mean, mean * np.sqrt(logs.var(0) + np.mean(rel, 0) ** 2)
