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

Zero-cost proxies (``proxies``, :mod:`nas.strategies.proxy_guide`) may join the
surrogate's inputs and pre-screen the candidates of step 2; off by default
(docs/proxies.md has the study that decided it).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from nas.objectives import order_best_first
from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from nas.strategies.evolution import check_count
from nas.strategies.pick import surrogate_picker
from nas.strategies.proxy_guide import (
    ProxyGuide,
    keep_count,
    proxy_guide,
    reference_archs,
    scaler,
    screen_order,
)
from nas.strategies.surrogates import MODELS
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
    proxies: Mapping[str, Any] | ProxyGuide | None = None,
) -> Strategy:
    """Args:
    initial: proposals of the initial design before the surrogate takes over.
    model: ``gp`` or ``ensemble`` (BANANAS-style MLP ensemble).
    candidates: archs scored per proposal when there is no pool (with a pool:
        every unseen row).
    proxies: ``{names: [...], feature: true, prescreen: 1, values: FILE, seed, batches,
        batch_size, seq_len}``: zero-cost proxies as surrogate inputs and/or a pre-screen
        keeping the best ``1/prescreen`` of the candidates (:mod:`nas.strategies.proxy_guide`).
    """
    check_count("initial", initial, minimum=2)
    check_count("candidates", candidates)
    if model not in MODELS:
        raise NasError(f"field 'strategy.model': expected one of {list(MODELS)}, got {model!r}")
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)
    guide = proxy_guide(space, proxies)
    extra = None
    if guide is not None and guide.feature:
        state: dict = {}

        def extra(archs):  # scaled by a fixed reference set, made at the first use
            if "scale" not in state:
                state["scale"] = scaler(guide, reference_archs(space, domain.pool))
            return state["scale"](guide.fn(archs))

    pick = surrogate_picker(domain, model=model, initial=initial, extra=extra)
    screen = guide is not None and guide.prescreen > 1
    pool_order: list[np.ndarray] = []  # the pool's pre-screen order, made once

    def prescreened(cands, rows, keep):
        if rows is not None:  # a pool: its rows in one fixed order, the first unseen ones kept
            if not pool_order:
                pool_order.append(screen_order(guide.fn(domain.pool), free_cols(domain.pool, None)))
            rank = np.empty(len(domain.pool), dtype=np.int64)
            rank[pool_order[0]] = np.arange(len(domain.pool))
            sel = np.sort(np.argsort(rank[rows], kind="stable")[:keep])
        else:
            sel = np.sort(screen_order(guide.fn(cands), free_cols(cands, None))[:keep])
        return [cands[int(i)] for i in sel], (None if rows is None else rows[sel])

    def free_cols(archs, rows):
        if domain.free is None:
            return None
        return domain.free_values(archs, rows)[:, np.asarray(domain.free.columns)]

    def propose(hist, rng, n, seen):
        if len(seen) < initial or len(hist.archs) < 2:
            return domain.initial(rng, n, seen)
        if domain.pool is not None:
            rows = domain.candidate_rows(seen)
            cands = [domain.pool[int(i)] for i in rows]
            keep = keep_count(len(cands), guide.prescreen) if screen else len(cands)
        else:
            rows = None
            order = order_best_first(hist.F, hist.violation)
            parents = [hist.archs[i] for i in order[:8]]
            keep = candidates
            cands = domain.candidates(rng, seen, parents, n=candidates * (guide.prescreen if screen else 1))
        if screen and len(cands) > keep:
            cands, rows = prescreened(cands, rows, max(keep, n))
        return pick(hist, rng, cands, rows, n)

    return make_strategy("bayesian", propose)
