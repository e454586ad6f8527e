"""The ask/tell protocol every search strategy follows, and what they share.

A strategy is a :class:`Strategy` NamedTuple of pure functions (the optax
pattern; pyglove's propose/feedback)::

    state = strategy.init(seed)
    archs, state = strategy.ask(state, n)          # n new proposals
    state = strategy.tell(state, archs, F, violation)

``F`` holds one row of objectives *to minimize* per architecture and
``violation`` the total constraint violation (0 = feasible), see
:mod:`nas.objectives`.  The state is plain data (:class:`StrategyState`: the
seed, every proposal and every result, as JSON-able tuples) so it goes into a
checkpoint as is, and it is everything a strategy knows: the randomness of the
``k``-th ask comes from ``(seed, k)``, so the same seed and the same
evaluations give the same proposals.

:class:`~nas.strategies.domain.Domain` (its own module) is where proposals
come from.

:class:`Free` carries the objectives known before evaluation (complexity,
predicted latency, a table's declared free columns): strategies compute them
for every candidate they consider and model only the others.  Constraints on
free metrics are the pre-filter's job.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import numpy as np

from search_spaces import ArchConfig
from search_spaces.errors import NasError


class StrategyState(NamedTuple):
    """Everything a strategy knows; all fields are JSON-able."""

    seed: int
    asked: tuple[str, ...] = ()  # every proposal, as arch JSON, in order
    told: tuple[str, ...] = ()  # evaluated archs, in the order they were told
    F: tuple[tuple[float, ...], ...] = ()  # objectives to minimize, one row per told arch
    violation: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {
            k: list(map(list, v)) if k == "F" else (list(v) if isinstance(v, tuple) else v)
            for k, v in self._asdict().items()
        }

    @classmethod
    def from_dict(cls, d: dict) -> StrategyState:
        return cls(
            seed=int(d["seed"]),
            asked=tuple(d["asked"]),
            told=tuple(d["told"]),
            F=tuple(tuple(float(x) for x in row) for row in d["F"]),
            violation=tuple(float(v) for v in d["violation"]),
        )


class Strategy(NamedTuple):
    """``init(seed)``, ``ask(state, n) -> (archs, state)``, ``tell(state, archs, F, violation)``."""

    name: str
    init: Callable[[int], StrategyState]
    ask: Callable[[StrategyState, int], tuple[list[ArchConfig], StrategyState]]
    tell: Callable[[StrategyState, Sequence[ArchConfig], np.ndarray, np.ndarray], StrategyState]


class Free(NamedTuple):
    """Objectives known before evaluation: ``fn(archs)`` gives an ``(n, k)`` array
    of the objectives *to minimize* (the same columns as ``F``), exact in the
    columns where ``columns[j]`` is True and NaN elsewhere.  Vectorized."""

    fn: Callable[[list[ArchConfig]], np.ndarray]
    columns: tuple[bool, ...]


class Prefilter(NamedTuple):
    """A cheap feasibility test applied before proposing: ``fn(archs) -> bool array``."""

    fn: Callable[[list[ArchConfig]], np.ndarray]
    text: str  # the constraints it checks, for error messages


@functools.lru_cache(maxsize=65536)
def parse_arch(text: str) -> ArchConfig:
    return ArchConfig.from_json(text)


class History(NamedTuple):
    """The told results as arrays, plus the pending (asked, not yet told) archs."""

    archs: list[ArchConfig]
    F: np.ndarray  # (n, k)
    violation: np.ndarray  # (n,)
    pending: list[ArchConfig]


def history(state: StrategyState) -> History:
    told = [parse_arch(t) for t in state.told]
    k = len(state.F[0]) if state.F else 1
    F = np.asarray(state.F, dtype=np.float64).reshape(len(told), k)
    told_set = set(state.told)
    pending = [parse_arch(a) for a in state.asked if a not in told_set]
    return History(told, F, np.asarray(state.violation, dtype=np.float64), pending)


def new_state(seed: int) -> StrategyState:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise NasError(f"field 'seed': expected an integer, got {seed!r}")
    return StrategyState(seed=int(seed))


def tell(
    state: StrategyState, archs: Sequence[ArchConfig], F: np.ndarray, violation: np.ndarray
) -> StrategyState:
    """Appends results (shared by every strategy: they differ only in how they ask)."""
    F = np.atleast_2d(np.asarray(F, dtype=np.float64))
    violation = np.asarray(violation, dtype=np.float64).reshape(-1)
    if len(F) != len(archs) or len(violation) != len(archs):
        raise ValueError(
            f"tell: {len(archs)} archs but {len(F)} objective rows and {len(violation)} violations"
        )
    if state.F and F.shape[1] != len(state.F[0]):
        raise ValueError(f"tell: {F.shape[1]} objectives, earlier results had {len(state.F[0])}")
    return state._replace(
        told=state.told + tuple(a.to_json() for a in archs),
        F=state.F + tuple(tuple(float(x) for x in row) for row in F),
        violation=state.violation + tuple(float(v) for v in violation),
    )


Proposer = Callable[[History, np.random.Generator, int, set[str]], list[ArchConfig]]


def make_strategy(name: str, propose: Proposer) -> Strategy:
    """A Strategy from a ``propose(history, rng, n, seen) -> archs`` function."""

    def ask(state: StrategyState, n: int) -> tuple[list[ArchConfig], StrategyState]:
        if n <= 0:
            return [], state
        rng = np.random.default_rng([state.seed, len(state.asked)])
        seen = set(state.asked)
        archs = propose(history(state), rng, n, seen)
        return archs, state._replace(asked=state.asked + tuple(a.to_json() for a in archs))

    return Strategy(name=name, init=new_state, ask=ask, tell=tell)


def run_sequential(
    strategy: Strategy,
    evaluate: Callable[[list[ArchConfig]], tuple[np.ndarray, np.ndarray]],
    *,
    budget: int,
    seed: int,
    lag: int = 1,
) -> StrategyState:
    """Runs a strategy without Ray, with the runner's schedule (:mod:`nas.schedule`):
    proposal ``i`` is made after the first ``i - lag + 1`` results were told
    (``lag`` evaluations in flight).  ``evaluate(archs) -> (F, violation)``."""
    from nas import schedule as S

    sched = S.start(strategy, seed)
    results: dict[int, tuple[np.ndarray, float]] = {}

    def run(lo: int, hi: int) -> None:
        if hi > lo:
            F, v = evaluate(list(sched.proposals[lo:hi]))
            F, v = np.atleast_2d(np.asarray(F, dtype=np.float64)), np.asarray(v, dtype=np.float64).reshape(-1)
            results.update({i: (F[i - lo], float(v[i - lo])) for i in range(lo, hi)})

    while True:
        sched, _ = S.advance(strategy, sched, results, budget=budget, lag=lag)
        if S.complete(sched, budget):
            break
        run(sched.told, S.needed(sched, lag))  # the results the next proposal waits for
    run(sched.told, len(sched.proposals))
    return S.close(strategy, sched, results).state
