"""Bayesian optimization with a Gaussian-process surrogate.

A GP (scikit-learn's GaussianProcessRegressor, Matern 5/2 kernel plus noise;
Rasmussen & Williams 2006) models a scalar score over the space's encoding;
each proposal maximizes expected improvement (Jones et al., "Efficient Global
Optimization", 1998) over a candidate set of mutants of the best results plus
uniform samples (or the whole unseen pool).  Several objectives become one by
a random augmented Chebyshev scalarization drawn afresh per proposal (ParEGO,
Knowles, IEEE TEVC 2006; Paria et al., UAI 2019).  Infeasible results score
worse than every feasible one.

Batch and asynchronous acquisition: architectures proposed but not evaluated
yet enter the GP with their predicted mean as if observed ("kriging believer",
Ginsbourger et al. 2010), which shrinks the variance there so that the next
proposal goes elsewhere and every worker has useful work.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from nas.strategies.base import Domain, Free, Prefilter, Strategy, make_strategy
from nas.strategies.evolution import check_count
from search_spaces import ArchConfig, SearchSpace


def scalarize(F: np.ndarray, violation: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Augmented Chebyshev scalarization of min-objectives normalized over the data
    (ParEGO); infeasible rows are pushed above every feasible one."""
    F = np.where(np.isfinite(F), F, np.nan)
    lo, hi = np.nanmin(F, axis=0), np.nanmax(F, axis=0)
    Z = (F - lo) / np.where(hi > lo, hi - lo, 1.0)
    Z = np.nan_to_num(Z, nan=1.5)
    y = (weights * Z).max(1) + 0.05 * (weights * Z).sum(1)
    bad = violation > 0
    if bad.any():
        y = np.where(bad, y.max() + 1.0 + np.log1p(violation), y)
    return y


def _expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    from scipy.stats import norm

    sigma = np.maximum(sigma, 1e-12)
    z = (best - mu) / sigma
    return sigma * (z * norm.cdf(z) + norm.pdf(z))


def _gp(seed: int):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(1.0, (1e-2, 1e2), nu=2.5) + WhiteKernel(
        1e-3, (1e-6, 1e-1)
    )
    return GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=seed, optimizer=_fit_hyper)


def _fit_hyper(obj_func, initial_theta, bounds):
    """Marginal-likelihood fit of the kernel hyperparameters with a bounded number
    of L-BFGS-B iterations, so that a proposal stays cheap."""
    from scipy.optimize import minimize

    res = minimize(
        obj_func, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds, options={"maxiter": 20}
    )
    return res.x, res.fun


def bayesian(
    space: SearchSpace,
    *,
    initial: int = 10,
    candidates: int = 96,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    """Args:
    initial: uniform samples before the surrogate takes over.
    candidates: archs scored by the acquisition function per proposal.
    """
    check_count("initial", initial, minimum=2)
    check_count("candidates", candidates)
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)

    def propose(hist, rng, n, seen):
        if len(seen) < initial or len(hist.archs) < 2:
            return domain.fill(rng, n, seen)
        from sklearn.exceptions import ConvergenceWarning

        k = hist.F.shape[1]
        y = scalarize(hist.F, hist.violation, rng.dirichlet(np.ones(k)) if k > 1 else np.ones(1))
        X = domain.encode(hist.archs)
        best_idx = np.argsort(y, kind="stable")[:5]
        top = [hist.archs[i] for i in best_idx]

        def mutant(rng, seen):
            if rng.random() < 0.5:
                return domain.sample(rng, seen)
            return domain.mutate(top[int(rng.integers(len(top)))], rng, seen, prob=0.3)

        out: list[ArchConfig] = []
        seen = set(seen)
        pending = list(hist.pending)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            gp = _gp(int(rng.integers(2**31))).fit(X, y)
            for _ in range(n):
                cands = domain.fill(rng, candidates, seen, mutant)
                if not cands:
                    break
                model = gp
                if pending:  # kriging believer: pending archs observed at their predicted mean
                    Xp = domain.encode(pending)
                    fixed = _gp(0).set_params(kernel=gp.kernel_, optimizer=None)
                    model = fixed.fit(np.vstack([X, Xp]), np.concatenate([y, gp.predict(Xp)]))
                mu, sd = model.predict(domain.encode(cands), return_std=True)
                ei = _expected_improvement(mu, sd, float(y.min()))
                pick = cands[int(np.argmax(ei))]
                out.append(pick)
                seen.add(pick.to_json())
                pending.append(pick)
        return out

    return make_strategy("bayesian", propose)
