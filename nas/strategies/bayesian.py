"""Surrogate-assisted (Bayesian) search: the default for expensive evaluators.

After an initial design (:meth:`Domain.initial`: the ends of the free
objectives, then a spread over them), every proposal

1. fits a surrogate with uncertainty to the *expensive* objectives only (a GP
   or an ensemble of MLPs, as BANANAS does: White et al., "BANANAS: Bayesian
   Optimization with Neural Architectures for Neural Architecture Search",
   AAAI 2021; :mod:`nas.strategies.surrogates`) on features of the
   architecture (global choices, per-layer aggregates) and its free objectives;
   free objectives (params, FLOPs, predicted latency; :class:`Free`) are
   computed exactly and never learned;
2. scores every candidate in one vectorized pass: the whole unseen pool of a
   table, or ``candidates`` local mutants of the front and uniform samples;
3. picks the candidate of largest expected hypervolume improvement
   (:mod:`nas.strategies.acquisition`; exact in closed form for two objectives
   of which one is free), times the probability of meeting the constraints
   on expensive metrics when some results broke them.

The GP's hyperparameters are refitted (marginal likelihood) after every
result up to ``2 * initial`` results and then each time the history has grown
by 15 %, on the results so far; in between the GP keeps them and only
conditions on all results.  They are memoized by the history prefix they come
from, so proposals stay a function of the history (resume, determinism).

Batches and asynchronous workers: architectures proposed but not evaluated
yet, and earlier picks of the same batch, join the front at their predicted
mean ("kriging believer", Ginsbourger et al. 2010), so that the next pick goes
where the believed front leaves room.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from scipy.special import ndtr

from nas.objectives import order_best_first, pareto_mask
from nas.strategies.acquisition import ehvi
from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from nas.strategies.evolution import check_count
from nas.strategies.surrogates import MODELS, fit, hyperparameters
from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError


def bayesian(
    space: SearchSpace,
    *,
    initial: int = 10,
    model: str = "gp",
    candidates: int = 2000,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    """Args:
    initial: proposals of the initial design before the surrogate takes over.
    model: ``gp`` or ``ensemble`` (BANANAS-style MLP ensemble).
    candidates: archs scored per proposal when there is no pool (with a pool:
        every unseen row).
    """
    check_count("initial", initial, minimum=2)
    check_count("candidates", candidates)
    if model not in MODELS:
        raise NasError(f"field 'strategy.model': expected one of {list(MODELS)}, got {model!r}")
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)
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
        if free_values is None:
            return X
        return np.hstack([X, (free_values - lo) / span])

    def propose(hist, rng, n, seen):
        if len(seen) < initial or len(hist.archs) < 2:
            return domain.initial(rng, n, seen)
        k = hist.F.shape[1]
        is_free = np.array(domain.free.columns) if domain.free is not None else np.zeros(k, bool)
        feasible = (hist.violation <= 0) & np.all(np.isfinite(hist.F), axis=1)
        order = order_best_first(hist.F, hist.violation)
        if domain.pool is not None:
            rows = domain.candidate_rows(seen)
            cands = [domain.pool[int(i)] for i in rows]
        else:
            rows = None
            cands = domain.candidates(rng, seen, [hist.archs[i] for i in order[:8]], n=candidates)
        if not cands:
            return []
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

    return make_strategy("bayesian", propose)
