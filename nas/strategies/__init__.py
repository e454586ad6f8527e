"""Search strategies: pure ask/tell functions with serializable state.

``make(name, space, **options)`` builds one by name; each factory is also
importable directly (``nas.strategies.evolution(space, population=50)``).
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from nas.strategies.aging import aging_evolution
from nas.strategies.base import (
    Free,
    Prefilter,
    Strategy,
    StrategyState,
    run_sequential,
)
from nas.strategies.bayesian import bayesian
from nas.strategies.domain import Domain
from nas.strategies.evolution import evolution
from nas.strategies.local import local_search
from nas.strategies.nsga2 import nsga2
from nas.strategies.random import random_search
from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError

FACTORIES = {
    "random": random_search,
    "evolution": evolution,
    "aging": aging_evolution,
    "nsga2": nsga2,
    "local": local_search,
    "bayesian": bayesian,
}


def options(name: str) -> list[str]:
    """The keyword options a strategy takes (besides pool, prefilter and free)."""
    params = inspect.signature(FACTORIES[name]).parameters
    return [
        p
        for p, v in params.items()
        if v.kind is inspect.Parameter.KEYWORD_ONLY and p not in ("pool", "prefilter", "free")
    ]


def make(
    name: str,
    space: SearchSpace,
    *,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
    **opts: Any,
) -> Strategy:
    """A strategy by name, with a clear error for an unknown name or option."""
    if name not in FACTORIES:
        raise NasError(f"field 'strategy.name': unknown strategy {name!r}; choose one of {sorted(FACTORIES)}")
    allowed = options(name)
    for key in opts:
        if key not in allowed:
            raise NasError(
                f"field 'strategy.{key}': strategy {name!r} has no option {key!r}; options are {allowed}"
            )
    return FACTORIES[name](space, pool=pool, prefilter=prefilter, free=free, **opts)


__all__ = [
    "FACTORIES",
    "Domain",
    "Free",
    "Prefilter",
    "Strategy",
    "StrategyState",
    "aging_evolution",
    "bayesian",
    "evolution",
    "local_search",
    "make",
    "nsga2",
    "options",
    "random_search",
    "run_sequential",
]
