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

from typing import Sequence

from nas.objectives import order_best_first
from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from nas.strategies.evolution import check_count
from nas.strategies.pick import surrogate_picker
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
    pick = surrogate_picker(domain, model=model, initial=initial)

    def propose(hist, rng, n, seen):
        if len(seen) < initial or len(hist.archs) < 2:
            return domain.initial(rng, n, seen)
        if domain.pool is not None:
            rows = domain.candidate_rows(seen)
            cands = [domain.pool[int(i)] for i in rows]
        else:
            rows = None
            order = order_best_first(hist.F, hist.violation)
            cands = domain.candidates(rng, seen, [hist.archs[i] for i in order[:8]], n=candidates)
        return pick(hist, rng, cands, rows, n)

    return make_strategy("bayesian", propose)
