"""Deep ensemble of MLPs (Lakshminarayanan et al., NeurIPS 2017) with bootstrap resampling.

K MLPs trained from different seeds on bootstrap resamples; the prediction is
the geometric mean of the members and the uncertainty their spread, so a
search can tell a confident prediction from an extrapolation.
"""

from __future__ import annotations

import numpy as np

from predictors.models import mlp


def fit(X: np.ndarray, y: np.ndarray, *, seed: int = 0, members: int = 5, **kw) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"members": np.asarray(members)}
    for m in range(members):
        p = mlp.fit(X, y, seed=seed * 1000 + m, bootstrap=m > 0, **kw)
        out.update({f"m{m}.{k}": v for k, v in p.items()})
    return out


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    K = int(params["members"])
    logs = np.stack(
        [
            mlp._log_predict({k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"m{m}.")}, X)
            for m in range(K)
        ]
    )
    mean = np.exp(np.clip(logs.mean(0), -80.0, 80.0))
    return mean, mean * logs.std(0)
