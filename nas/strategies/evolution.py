"""Evolutionary search in the style of HAT and AutoFormer.

HAT (Wang et al., "HAT: Hardware-Aware Transformers", ACL 2020) and AutoFormer
(Chen et al., ICCV 2021) start from a random population, keep the top-k
architectures as parents and make children by mutation (every dimension and
every layer slot resampled with a fixed probability) and uniform crossover;
children that break the hardware constraint are resampled.  Here the loop is
steady-state so that it fits ask/tell and asynchronous workers: the first
``population`` proposals are uniform samples, and every later one is a child of
the current top-``parents`` of all results so far (feasible first, then
Pareto rank and crowding distance, so several objectives work too).

Offspring are pre-screened by a surrogate, as in BANANAS (White et al., AAAI
2021): ``screen`` children are made per proposal and the one of largest
expected hypervolume improvement under the surrogate Bayesian search uses
(:func:`nas.strategies.pick.surrogate_picker`) is evaluated.  Without it
(``screen: 1``) a child is a blind local move: on HW-GPT-Bench-style tables
the top-5 parents' one-site mutants tied random search at 50 evaluations on
a table the defaults were not chosen on (``experiments/search_study.py``).
"""

from __future__ import annotations

from typing import Sequence

from nas.objectives import order_best_first
from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from nas.strategies.pick import screened, surrogate_picker
from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError


def check_prob(name: str, value: float | None, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise NasError(f"field 'strategy.{name}': expected a probability in [0, 1], got {value!r}")
    return float(value)


def check_count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NasError(f"field 'strategy.{name}': expected an integer >= {minimum}, got {value!r}")
    return value


def evolution(
    space: SearchSpace,
    *,
    population: int = 10,
    parents: int = 5,
    mutation_prob: float | None = None,
    crossover_prob: float = 0.5,
    screen: int = 16,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    """Args:
    population: number of initial uniform samples.
    parents: top-k results that children are made from.
    mutation_prob: probability that each site (a global dimension, a layer slot)
        changes; default one site on average (a local move, at least one site).
    crossover_prob: share of children made by crossover (the rest by mutation).
    screen: children made per proposal, of which the surrogate picks one (1: no surrogate).
    """
    check_count("population", population)
    check_count("parents", parents)
    check_prob("mutation_prob", mutation_prob, allow_none=True)
    check_prob("crossover_prob", crossover_prob)
    check_count("screen", screen)
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)
    pick = surrogate_picker(domain, initial=population) if screen > 1 else None

    def propose(hist, rng, n, seen):
        if len(seen) < population or len(hist.archs) < 1:
            return domain.initial(rng, n, seen)
        top = [hist.archs[i] for i in order_best_first(hist.F, hist.violation)[:parents]]

        def child(rng, seen):
            if len(top) >= 2 and rng.random() < crossover_prob:
                i, j = rng.choice(len(top), size=2, replace=False)
                return domain.crossover(top[i], top[j], rng, seen)
            return domain.mutate(top[int(rng.integers(len(top)))], rng, seen, prob=mutation_prob)

        return screened(domain, pick, screen, hist, rng, n, seen, child)

    return make_strategy("evolution", propose)
