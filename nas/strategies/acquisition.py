"""Multi-objective acquisition: expected hypervolume improvement (EHVI).

EHVI (Emmerich et al., "Single- and multiobjective evolutionary optimization
assisted by Gaussian random field metamodels", IEEE TEVC 2006) scores a
candidate by how much hypervolume its (uncertain) objectives are expected to
add to the current front.  Three cases, all vectorized over candidates:

* **two objectives, one of them free** (known exactly, e.g. params): the
  improvement is an integral of the front's step function against the normal
  CDF of the uncertain objective, in closed form
  (:func:`ehvi_one_uncertain`, no sampling);
* **two objectives, both uncertain**: Monte Carlo over posterior samples, each
  sample's improvement exact (:func:`hvi_2d`);
* **one objective**: expected improvement (Jones et al. 1998);
* **three or more**: Monte Carlo improvement of an augmented Chebyshev
  scalarization with random weights (ParEGO, Knowles 2006), which keeps the
  cost linear in the candidates.

All objectives are minimized; ``front`` rows are non-dominated and ``ref`` is
the reference point.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

_SQRT2PI = np.sqrt(2 * np.pi)


def _G(z: np.ndarray) -> np.ndarray:
    """Antiderivative of the normal CDF: z Phi(z) + phi(z) (0 at -inf)."""
    z = np.clip(z, -40.0, 40.0)
    return z * ndtr(z) + np.exp(-0.5 * z * z) / _SQRT2PI


def _steps(front: np.ndarray, ref: np.ndarray, u: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges (m+2,) along axis ``u`` and heights (m+1,) along the other axis of
    the region the front leaves free: for t in [edge_j, edge_j+1) the front
    dominates the other axis down to height_j."""
    k = 1 - u
    F = front[np.all(front < ref, axis=1)] if len(front) else front.reshape(0, 2)
    F = F[np.argsort(F[:, u], kind="stable")]
    best = np.minimum.accumulate(F[:, k]) if len(F) else np.zeros(0)
    edges = np.concatenate([[-np.inf], F[:, u], [ref[u]]])
    heights = np.concatenate([[ref[k]], best])
    return edges, heights


def ehvi_one_uncertain(
    front: np.ndarray, ref: np.ndarray, mu: np.ndarray, sd: np.ndarray, known: np.ndarray, *, u: int
) -> np.ndarray:
    """Exact EHVI of candidates whose objective ``u`` is N(mu, sd^2) and whose
    other objective is ``known``; two objectives.

    With h(t) the front's best value of the known axis among points at most t
    on axis u, the improvement of a point (y, p) is the integral over t in
    [y, ref_u] of max(0, h(t) - p); its expectation is the integral of
    max(0, h(t) - p) P(Y < t), a sum over the front's steps of
    sd (G(z_j+1) - G(z_j)).
    """
    edges, heights = _steps(np.asarray(front, float).reshape(-1, 2), np.asarray(ref, float), u)
    sd = np.maximum(sd, 1e-12)[:, None]
    z = (edges[None, :] - mu[:, None]) / sd
    Gz = _G(z)
    Gz[:, 0] = 0.0  # edge -inf
    gain = np.maximum(heights[None, :] - known[:, None], 0.0)
    return (gain * sd * (Gz[:, 1:] - Gz[:, :-1])).sum(1)


def hvi_2d(front: np.ndarray, ref: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact hypervolume improvement of each point (N, 2) over a front."""
    edges, heights = _steps(np.asarray(front, float).reshape(-1, 2), np.asarray(ref, float), 0)
    lo = np.maximum(edges[None, :-1], points[:, :1])
    width = np.maximum(edges[None, 1:] - lo, 0.0)
    gain = np.maximum(heights[None, :] - points[:, 1:2], 0.0)
    return (width * gain).sum(1)


def expected_improvement(mu: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    sd = np.maximum(sd, 1e-12)
    z = (best - mu) / sd
    return sd * _G(z)


def ehvi(
    front: np.ndarray,
    ref: np.ndarray,
    mu: np.ndarray,
    sd: np.ndarray,
    rng: np.random.Generator,
    *,
    samples: int = 64,
) -> np.ndarray:
    """EHVI of candidates with objective means ``mu`` and standard deviations
    ``sd`` (both (M, k); sd 0 in free columns)."""
    M, k = mu.shape
    uncertain = np.flatnonzero((sd > 0).any(0))
    if k == 1:
        best = front[:, 0].min() if len(front) else ref[0]
        return expected_improvement(mu[:, 0], sd[:, 0], float(min(best, ref[0])))
    if k == 2 and len(uncertain) <= 1:
        u = int(uncertain[0]) if len(uncertain) else 0
        return ehvi_one_uncertain(front, ref, mu[:, u], sd[:, u], mu[:, 1 - u], u=u)
    eps = rng.standard_normal((samples, M, k))
    Y = mu[None] + sd[None] * eps  # (S, M, k)
    if k == 2:
        return hvi_2d(front, ref, Y.reshape(-1, 2)).reshape(samples, M).mean(0)
    lo = np.minimum(front.min(0), mu.min(0)) if len(front) else mu.min(0)
    span = np.where(ref > lo, ref - lo, 1.0)
    w = rng.dirichlet(np.ones(k))

    def scal(Z):
        Z = (Z - lo) / span
        return (w * Z).max(-1) + 0.05 * (w * Z).sum(-1)

    best = scal(front).min() if len(front) else scal(ref[None])[0]
    return np.maximum(best - scal(Y), 0.0).mean(0)
