"""Surrogates with uncertainty for the expensive objectives.

``fit(name, X, Y, seed)`` returns ``predict(X) -> (mean, std)``, both
``(n, k)`` for the ``k`` columns of ``Y``; each column is modelled on its own.

* ``gp``: a Gaussian process per column (:class:`GP`: Matern 5/2 with one
  length scale per feature, plus a linear term and white noise; Rasmussen &
  Williams 2006), hyperparameters by marginal likelihood.
* ``ensemble``: five small MLPs from different initializations, mean and
  spread of their predictions (BANANAS, White et al., AAAI 2021, found such an
  ensemble as good a surrogate for NAS as a GP).

Both standardize the targets; linear algebra runs on one thread
(``threadpoolctl``): on a 2-core machine default BLAS threading made a GP's
algebra ~24x slower.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

MODELS = ("gp", "ensemble")
Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


_S5 = np.sqrt(5.0)


def _matern(X1: np.ndarray, X2: np.ndarray, ell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matern 5/2 correlation with one length scale per feature; also the scaled
    squared differences (n1, n2, d) when X1 is X2 (for gradients)."""
    D = (X1[:, None, :] - X2[None, :, :]) / ell
    D2 = D * D
    r = np.sqrt(D2.sum(-1))
    return (1 + _S5 * r + 5.0 / 3.0 * r * r) * np.exp(-_S5 * r), D2


class GP:
    """Exact GP regression in numpy: sf2 * Matern52(ARD) + sl2 * <x, x'> + sn2 * I,
    on standardized targets, hyperparameters (log scale) by maximizing the
    log marginal likelihood with analytic gradients (L-BFGS-B, a bounded number
    of steps).  Written out because scikit-learn's kernel objects cost ~10x
    more in Python overhead than the algebra at the sizes of a search."""

    def __init__(self, X: np.ndarray, y: np.ndarray, theta: np.ndarray | None = None) -> None:
        from scipy.optimize import minimize

        self.X = X
        self.mean, self.scale = y.mean(), (y.std() if y.std() > 0 else 1.0)
        self.y = (y - self.mean) / self.scale
        n, d = X.shape
        lin = X @ X.T
        _, D2 = _matern(X, X, np.ones(d))
        self._lin, self._D2 = lin, D2
        x0 = np.concatenate([np.zeros(d), [0.0, np.log(0.1), np.log(0.01)]])
        bounds = [(np.log(0.05), np.log(20.0))] * d + [(np.log(0.05), np.log(20.0)), (-9.0, 2.0), (-9.0, 0.0)]
        if theta is None:
            opts = {"maxiter": 40}
            theta = minimize(self._nlml, x0, jac=True, method="L-BFGS-B", bounds=bounds, options=opts).x
        self.theta = theta
        K = self._K(theta)[0]
        self.L = np.linalg.cholesky(K)
        self.alpha = _solve(self.L, self.y)
        self.Kinv = _solve(self.L, np.eye(len(self.L)))

    def _K(self, theta):
        d = self.X.shape[1]
        ell2 = np.exp(2 * theta[:d])
        sf2, sl2, sn2 = np.exp(theta[d:])
        D2 = self._D2 / ell2
        r = np.sqrt(D2.sum(-1))
        e = np.exp(-_S5 * r)
        C = (1 + _S5 * r + 5.0 / 3.0 * r * r) * e
        K = sf2 * C + sl2 * self._lin + (sn2 + 1e-8) * np.eye(len(C))
        return K, (sf2, sl2, sn2, C, D2, e, r)

    def _nlml(self, theta):
        d = self.X.shape[1]
        K, (sf2, sl2, sn2, C, D2, e, r) = self._K(theta)
        try:
            L = np.linalg.cholesky(K)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = _solve(L, self.y)
        nlml = 0.5 * self.y @ alpha + np.log(np.diag(L)).sum()
        Kinv = _solve(L, np.eye(len(K)))
        W = np.outer(alpha, alpha) - Kinv  # dLML/dK
        base = sf2 * 5.0 / 3.0 * (1 + _S5 * r) * e
        grad = np.empty_like(theta)
        grad[:d] = -0.5 * np.einsum("ij,ijk->k", W * base, D2)
        grad[d] = -0.5 * (W * sf2 * C).sum()
        grad[d + 1] = -0.5 * (W * sl2 * self._lin).sum()
        grad[d + 2] = -0.5 * np.trace(W) * sn2
        return nlml, grad

    def predict(self, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.X.shape[1]
        ell = np.exp(self.theta[:d])
        sf2, sl2, sn2 = np.exp(self.theta[d:])
        out_mu, out_sd = [], []
        Xt = self.X / ell
        for start in range(0, len(Xc), 4096):  # bounded memory for large pools
            Z = Xc[start : start + 4096]
            Zs = Z / ell
            r2 = (Zs * Zs).sum(1)[:, None] + (Xt * Xt).sum(1)[None, :] - 2.0 * Zs @ Xt.T
            r = np.sqrt(np.maximum(r2, 0.0))
            Ks = sf2 * (1 + _S5 * r + 5.0 / 3.0 * r * r) * np.exp(-_S5 * r) + sl2 * (Z @ self.X.T)
            var = sf2 + sl2 * (Z * Z).sum(1) - ((Ks @ self.Kinv) * Ks).sum(1)
            out_mu.append(Ks @ self.alpha)
            out_sd.append(np.sqrt(np.maximum(var, 1e-12)))
        mu, sd = np.concatenate(out_mu), np.concatenate(out_sd)
        return mu * self.scale + self.mean, sd * self.scale


def _solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.linalg import cho_solve

    return cho_solve((L, True), b)


def _ensemble(X: np.ndarray, y: np.ndarray, seed: int, members: int = 5):
    from sklearn.neural_network import MLPRegressor

    mean, scale = y.mean(), y.std() if y.std() > 0 else 1.0
    nets = [
        MLPRegressor(
            hidden_layer_sizes=(32, 32), alpha=1e-3, solver="lbfgs", max_iter=400, random_state=seed + i
        ).fit(X, (y - mean) / scale)
        for i in range(members)
    ]

    def predict(Xc):
        P = np.stack([n.predict(Xc) for n in nets]) * scale + mean
        return P.mean(0), P.std(0)

    return predict


def hyperparameters(X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    """GP hyperparameters (one vector per column of ``Y``) by marginal likelihood."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    with threadpool_limits(1):
        return [GP(X, Y[:, j]).theta for j in range(Y.shape[1])]


def fit(
    name: str, X: np.ndarray, Y: np.ndarray, seed: int, *, thetas: list[np.ndarray] | None = None
) -> Predict:
    """Fits one model per column of ``Y`` on features ``X`` (a GP with ``thetas``
    given keeps those hyperparameters and only conditions on the data)."""
    from sklearn.exceptions import ConvergenceWarning

    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    models = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        for j in range(Y.shape[1]):
            if name == "gp":
                models.append(GP(X, Y[:, j], None if thetas is None else thetas[j]).predict)
            else:
                models.append(_ensemble(X, Y[:, j], seed + 100 * j))

    def predict(Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not models:  # every objective is free: nothing learned, nothing predicted
            return np.zeros((len(Xc), 0)), np.zeros((len(Xc), 0))
        with threadpool_limits(1):
            out = [m(Xc) for m in models]
        return np.stack([o[0] for o in out], 1), np.stack([o[1] for o in out], 1)

    return predict
