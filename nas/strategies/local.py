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

With ``screen`` > 1 (the default) the unexplored neighbours of the whole archive
are candidates together, beside a quarter as many fresh samples (the restart
rule: a restart is taken when the surrogate rates it above every move), and
the surrogate Bayesian search uses
(:func:`nas.strategies.pick.surrogate_picker`; as BANANAS pre-screens mutants,
White et al., AAAI 2021) picks which to evaluate; ``screen: 1`` is the plain
walk above, which on a table the defaults were not chosen on stayed below
random search at 50 to 200 evaluations: it spends its budget on the 8 nearest
rows of each front member in turn, one small step at a time.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from nas.objectives import nondominated_ranks, order_best_first
from nas.strategies.base import Free, Prefilter, Strategy, make_strategy
from nas.strategies.domain import Domain
from nas.strategies.evolution import check_count
from nas.strategies.pick import surrogate_picker
from search_spaces import ArchConfig, SearchSpace


def local_search(
    space: SearchSpace,
    *,
    initial: int = 10,
    neighbours: int = 8,
    screen: int = 16,
    pool: Sequence[ArchConfig] | None = None,
    prefilter: Prefilter | None = None,
    free: Free | None = None,
) -> Strategy:
    """Args:
    initial: proposals of the initial design (and of each restart).
    neighbours: neighbours of an archive member evaluated before it counts as explored.
    screen: > 1 lets the surrogate pick among every archive member's unexplored
        neighbours (at most ``screen`` per proposal); 1 walks them in order.
    """
    check_count("initial", initial)
    check_count("neighbours", neighbours)
    check_count("screen", screen)
    domain = Domain(space, pool=pool, prefilter=prefilter, free=free)
    pick = surrogate_picker(domain, initial=initial) if screen > 1 else None
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
        if pick is not None and len(hist.archs) >= 2:
            todo = list(
                {nb.to_json(): nb for m in archive for nb in hood(m) if nb.to_json() not in seen}.values()
            )
            if len(todo) > screen * n:  # the most novel in the free objectives, or a seeded subset
                keep = (
                    domain.novelty_order(todo, seen)
                    if domain.free is not None
                    else rng.permutation(len(todo))
                )
                todo = [todo[int(i)] for i in keep[: screen * n]]
            # restarts compete with the moves: a quarter as many fresh samples as moves
            todo += domain.fill(rng, max(n, len(todo) // 4), seen | {a.to_json() for a in todo})
            return pick(hist, rng, todo, domain.rows(todo), n)
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
