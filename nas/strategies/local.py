"""Local search: Pareto local search over neighbourhoods.

White, Nolen, Dooley & Smith, "Local Search is State of the Art for Neural
Architecture Search Benchmarks" (2020) find that simple local search (evaluate
the neighbours of the best architecture, move to a better one, restart when
stuck) matches or beats elaborate methods on NAS benchmarks.  With several
objectives the "best architecture" becomes the archive of non-dominated ones:
Pareto local search (Paquete, Chiarandini & Stuetzle 2004) evaluates the
neighbours of each archive member in turn (extremes of the front first, by
crowding distance) and restarts from new initial samples once every member's
neighbourhood is explored.  With free objectives (:class:`Free`) the next
neighbour of a member is the one farthest, in the free objectives, from
everything asked so far, and restarts spread over the free objectives
(:meth:`Domain.initial`).

A neighbour differs in one site (a global choice or one layer slot); in a
table it is one of the ``neighbours`` nearest rows in the distance of
:mod:`nas.strategies.features`.  The neighbourhood of an architecture is a
fixed function of it (seeded by its JSON), so proposals depend only on the
history.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from nas.objectives import nondominated_ranks, order_best_first
from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from nas.strategies.evolution import check_count
from search_spaces import ArchConfig, SearchSpace


def local_search(
    space: SearchSpace,
    *,
    initial: int = 10,
    neighbours: int = 8,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    """Args:
    initial: proposals of the initial design (and of each restart).
    neighbours: neighbours of an archive member evaluated before it counts as explored.
    """
    check_count("initial", initial)
    check_count("neighbours", neighbours)
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)
    cache: dict[str, list[ArchConfig]] = {}

    def hood(arch: ArchConfig) -> list[ArchConfig]:
        key = arch.to_json()
        if key not in cache:
            near = domain.neighbours(arch, k=neighbours)
            if domain.pool is None:
                rng = np.random.default_rng(zlib.crc32(key.encode()))
                near = [near[int(i)] for i in rng.permutation(len(near))[:neighbours]]
                if domain.prefilter is not None and near:
                    near = [a for a, ok in zip(near, domain.prefilter.fn(near), strict=True) if ok]
            else:
                ok = domain.pool_feasible()
                near = [a for a in near if ok[domain._pool_index[a.to_json()]]]
            cache[key] = near
        return cache[key]

    def propose(hist, rng, n, seen):
        if len(seen) < initial or len(hist.archs) < 1:
            return domain.initial(rng, n, seen)
        seen = set(seen)
        order = order_best_first(hist.F, hist.violation)
        feasible = hist.violation <= 0
        if feasible.any():
            idx = np.flatnonzero(feasible)
            rank = np.full(len(hist.archs), 1)
            rank[idx] = nondominated_ranks(hist.F[idx])
            archive = [hist.archs[i] for i in order if rank[i] == 0 and feasible[i]]
        else:
            archive = [hist.archs[i] for i in order[:3]]
        out: list[ArchConfig] = []
        for member in archive:
            while len(out) < n:
                todo = [nb for nb in hood(member) if nb.to_json() not in seen]
                if not todo:
                    break
                if domain.free is not None and len(todo) > 1:  # the most novel in the free objectives first
                    todo = [todo[int(domain.novelty_order(todo, seen)[0])]]
                out.append(todo[0])
                seen.add(todo[0].to_json())
            if len(out) == n:
                return out
        return out + domain.initial(rng, n - len(out), seen)  # every neighbourhood explored: restart

    return make_strategy("local", propose)
