"""Random search: uniform samples of the domain, never the same twice.

The baseline every NAS method must beat (Li & Talwalkar, "Random Search and
Reproducibility for Neural Architecture Search", UAI 2019).
"""

from __future__ import annotations

from typing import Sequence

from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from search_spaces import ArchConfig, SearchSpace


def random_search(
    space: SearchSpace,
    *,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)

    def propose(hist, rng, n, seen):
        return domain.fill(rng, n, seen)

    return make_strategy("random", propose)
