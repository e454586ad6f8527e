"""Picking among candidates by a surrogate: what Bayesian search does every step,
and what pre-screens the offspring of the evolutionary and local strategies.

BANANAS (White, Neiswanger & Savani, "BANANAS: Bayesian Optimization with
Neural Architectures for Neural Architecture Search", AAAI 2021) makes its
candidates by mutating the best architectures so far and evaluates the ones
a surrogate with uncertainty rates best; HW-GPT-Bench's baselines
(Sukthanker et al., NeurIPS 2024) pair their evolutionary searches with
such surrogates too.  :func:`surrogate_picker` is that step, shared:

1. a surrogate with uncertainty (:mod:`nas.strategies.surrogates`) fitted to
   the *expensive* objectives only, on architecture features (global choices,
   per-layer aggregates) and the free objectives, which are exact and never
   learned;
2. each candidate's expected hypervolume improvement
   (:mod:`nas.strategies.acquisition`), times the probability of meeting the
   constraints on expensive metrics when some results broke them;
3. ``n`` picks, each joining the front at its predicted mean before the next
   (and so do the pending proposals: "kriging believer", Ginsbourger et al.
   2010), so a batch or asynchronous workers spread out.

GP hyperparameters are refitted (marginal likelihood) after every result up to
``2 * initial`` results and then each time the history has grown by 15 %; in
between the GP only conditions on all results.  They are memoized by the
history prefix they come from, so picks stay a function of the history.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
from scipy.special import ndtr

from nas.objectives import pareto_mask
from nas.strategies.acquisition import ehvi
from nas.strategies.base import History
from nas.strategies.domain import Domain
from nas.strategies.surrogates import fit, hyperparameters
from search_spaces import ArchConfig

Picker = Callable[[History, np.random.Generator, list, "np.ndarray | None", int], list[ArchConfig]]


def surrogate_picker(
    domain: Domain,
    *,
    model: str = "gp",
    initial: int = 10,
    extra: Callable[[list[ArchConfig]], np.ndarray] | None = None,
) -> Picker:
    """``pick(hist, rng, cands, rows, n)``: the ``n`` candidates of largest EHVI
    (``rows``: their pool indices, or None).  Needs at least two results.
    ``extra(archs) -> (n, e)``: more surrogate input columns (scaled zero-cost proxies,
    :mod:`nas.strategies.proxy_guide`)."""
    memo: dict[bytes, list[np.ndarray]] = {}  # history prefix -> GP hyperparameters (pure memoization)

    def refit_point(n: int) -> int:
        start = 2 * initial
        if n <= start:
            return n
        return max(start, int(start * 1.15 ** np.floor(np.log(n / start) / np.log(1.15))))

    def thetas(hist, X, Y, ok):
        m = refit_point(len(X))
        key = hashlib.sha1(
            repr((m, [a.to_json() for a in hist.archs[:m]])).encode() + np.ascontiguousarray(Y[:m]).tobytes()
        ).digest()
        if key not in memo:
            memo[key] = hyperparameters(X[:m][ok[:m]], Y[:m][ok[:m]])
        return memo[key]

    def features(archs, free_values, lo, span, rows=None):
        X = domain.features(archs, rows)[:, domain.surrogate_columns]
        if extra is not None:
            X = np.hstack([X, extra(list(archs))])
        if free_values is None:
            return X
        return np.hstack([X, (free_values - lo) / span])

    def pick(hist: History, rng, cands: list, rows, n: int) -> list[ArchConfig]:
        if not cands:
            return []
        k = hist.F.shape[1]
        is_free = np.array(domain.free.columns) if domain.free is not None else np.zeros(k, bool)
        feasible = (hist.violation <= 0) & np.all(np.isfinite(hist.F), axis=1)
        hist_rows = domain.rows(hist.archs)
        free_h = domain.free_values(hist.archs, hist_rows)
        free_c = domain.free_values(cands, rows)
        free_p = domain.free_values(hist.pending) if hist.pending else None
        lo = span = None
        if free_h is not None:
            free_h, free_c = free_h[:, is_free], free_c[:, is_free]
            free_p = free_p[:, is_free] if free_p is not None else None
            both = np.vstack([free_h, domain.free_range()[:, is_free]])
            lo, span = both.min(0), np.maximum(both.max(0) - both.min(0), 1e-12)
        X = features(hist.archs, free_h, lo, span, hist_rows)
        Y = hist.F[:, ~is_free]
        ok = np.all(np.isfinite(Y), axis=1)
        seed = int(rng.integers(2**31))
        predict = fit(model, X[ok], Y[ok], seed, thetas=thetas(hist, X, Y, ok) if model == "gp" else None)
        Xc = features(cands, free_c, lo, span, rows)
        mu_e, sd_e = predict(Xc)
        mu, sd = np.zeros((len(cands), k)), np.zeros((len(cands), k))
        mu[:, ~is_free], sd[:, ~is_free] = mu_e, sd_e
        if free_c is not None:
            mu[:, is_free] = free_c

        pof = np.ones(len(cands))
        if (hist.violation > 0).any():  # constraints on expensive metrics: P(feasible)
            v = np.where(
                np.isfinite(hist.violation),
                hist.violation,
                np.nanmax(hist.violation[np.isfinite(hist.violation)]),
            )
            mv, sv = fit(model, X, np.where(v > 0, np.log1p(v) + 0.1, -0.1)[:, None], seed + 7)(Xc)
            pof = ndtr(-mv[:, 0] / np.maximum(sv[:, 0], 1e-9))

        front = hist.F[feasible]
        front = front[pareto_mask(front)] if len(front) else np.zeros((0, k))
        if hist.pending:  # kriging believer: pending archs at their predicted mean
            m_p, _ = predict(features(hist.pending, free_p, lo, span))
            P = np.zeros((len(hist.pending), k))
            P[:, ~is_free] = m_p
            if free_p is not None:
                P[:, is_free] = free_p
            front = np.vstack([front, P])
        seen_F = np.vstack([hist.F[feasible], mu]) if feasible.any() else mu
        worst, best = seen_F.max(0), seen_F.min(0)
        ref = worst + np.where(is_free, 1e-4, 0.1) * np.maximum(worst - best, 1e-12)

        out: list[ArchConfig] = []
        taken = np.zeros(len(cands), dtype=bool)
        for _ in range(min(n, len(cands))):
            live = front[pareto_mask(front)] if len(front) else front
            score = ehvi(live, ref, mu, sd, rng) * pof
            score = np.where(taken, -np.inf, score)
            i = int(np.argmax(score)) if score.max() > 0 else int(rng.choice(np.flatnonzero(~taken)))
            taken[i] = True
            out.append(cands[i])
            front = np.vstack([front, mu[i]])
        return out

    return pick


def screened(
    domain: Domain,
    pick: Picker | None,
    ratio: int,
    hist: History,
    rng: np.random.Generator,
    n: int,
    seen: set[str],
    child: Callable[[np.random.Generator, set[str]], ArchConfig | None],
) -> list[ArchConfig]:
    """``n`` of ``ratio * n`` offspring of ``child`` (distinct, pre-filter-feasible),
    the ones ``pick`` rates best; plain offspring when ``pick`` is None or ``ratio`` 1."""
    if pick is None or ratio <= 1 or len(hist.archs) < 2:
        return domain.fill(rng, n, seen, child)
    kids = domain.fill(rng, ratio * n, seen, child)
    return pick(hist, rng, kids, domain.rows(kids), n)
