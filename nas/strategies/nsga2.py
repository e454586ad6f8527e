"""NSGA-II for several objectives.

Deb et al., "A Fast and Elitist Multiobjective Genetic Algorithm: NSGA-II",
IEEE TEVC 2002.  Survival keeps the best ``population`` of all results by
(feasibility, non-dominated rank, crowding distance); parents are picked by
binary tournament on that order; a child is a crossover of two parents
(with probability ``crossover_prob``) followed by mutation.  Non-dominated
sorting and crowding distance come from pymoo (see :mod:`nas.objectives`).
Steady-state, so that it fits asynchronous workers.  The first ``initial``
proposals are the initial design (:meth:`Domain.initial`), and each later one
is the best of ``screen`` children under the surrogate Bayesian search uses
(:func:`nas.strategies.pick.surrogate_picker`; BANANAS, White et al., AAAI
2021); ``screen: 1`` is the plain algorithm.
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


def nsga2(
    space: SearchSpace,
    *,
    population: int = 20,
    mutation_prob: float | None = None,
    crossover_prob: float = 0.9,
    initial: int = 10,
    screen: int = 16,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    check_count("population", population, minimum=2)
    check_prob("mutation_prob", mutation_prob, allow_none=True)
    check_prob("crossover_prob", crossover_prob)
    check_count("initial", initial, minimum=2)
    check_count("screen", screen)
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)
    pick = surrogate_picker(domain, initial=initial) if screen > 1 else None

    def propose(hist, rng, n, seen):
        if len(seen) < min(initial, population) or len(hist.archs) < 2:
            return domain.initial(rng, n, seen)
        order = order_best_first(hist.F, hist.violation)[:population]
        survivors = [hist.archs[i] for i in order]
        position = np.arange(len(order))  # smaller is better

        def tournament(rng):
            i, j = rng.choice(len(survivors), size=2, replace=False)
            return survivors[i if position[i] < position[j] else j]

        def child(rng, seen):
            a = tournament(rng)
            if rng.random() < crossover_prob:
                b = tournament(rng)
                a = space.crossover(a, b, rng)
            return domain.mutate(a, rng, seen, prob=mutation_prob)

        return screened(domain, pick, screen, hist, rng, n, seen, child)

    return make_strategy("nsga2", propose)
