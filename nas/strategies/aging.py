"""Regularized (aging) evolution.

Real et al., "Regularized Evolution for Image Classifier Architecture Search",
AAAI 2019: the population is the ``population`` most recent results (the
oldest dies, however good it was); each child mutates the best of a random
sample of ``sample_size`` members, best by the order of all results
(feasibility, Pareto rank, crowding; with one objective simply the sample's
best).  Defaults 50 / 10 (Real et al. use 100 / 25 at larger budgets; 20 / 5
tied random search on the HW-GPT-Bench L table at 200 evaluations).  Ageing favours architectures that stay good
when re-discovered and copes with noisy scores.  The order of results is the
order they were told, which the runner keeps equal to the proposal order.

The first ``initial`` proposals are the initial design (:meth:`Domain.initial`);
the population grows to ``population`` from children.  Each proposal is the
best of ``screen`` children under the surrogate Bayesian search uses
(:func:`nas.strategies.pick.surrogate_picker`; BANANAS, White et al., AAAI 2021):
with blind children (``screen: 1``) and 50 initial samples aging evolution
was random search up to 50 evaluations.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nas.objectives import order_best_first
from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from nas.strategies.evolution import check_count, check_prob
from nas.strategies.pick import screened, surrogate_picker
from search_spaces import ArchConfig, SearchSpace


def aging_evolution(
    space: SearchSpace,
    *,
    population: int = 50,
    sample_size: int = 10,
    mutation_prob: float | None = None,
    initial: int = 10,
    screen: int = 16,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    check_count("population", population)
    check_count("sample_size", sample_size)
    check_prob("mutation_prob", mutation_prob, allow_none=True)
    check_count("initial", initial)
    check_count("screen", screen)
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)
    pick = surrogate_picker(domain, initial=initial) if screen > 1 else None

    def propose(hist, rng, n, seen):
        if len(seen) < min(initial, population) or len(hist.archs) < 1:
            return domain.initial(rng, n, seen)
        alive = list(range(max(0, len(hist.archs) - population), len(hist.archs)))
        position = np.empty(len(hist.archs), dtype=np.int64)  # place in the order of all results
        position[order_best_first(hist.F, hist.violation)] = np.arange(len(hist.archs))

        def child(rng, seen):
            pick = rng.choice(alive, size=min(sample_size, len(alive)), replace=False)
            best = pick[int(np.argmin(position[pick]))]
            return domain.mutate(hist.archs[int(best)], rng, seen, prob=mutation_prob)

        return screened(domain, pick, screen, hist, rng, n, seen, child)

    return make_strategy("aging", propose)
