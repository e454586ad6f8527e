"""The lag rule: when a search may ask for its next proposal, as pure functions.

Asynchronous and deterministic at once.  Evaluations may finish in any order
and on any worker, yet the search does not depend on timing, because of one
rule: proposal ``i`` is asked for after exactly the first ``i - lag + 1``
results *in proposal order* were told to the strategy (results that arrive
early wait until their turn).  So ``lag`` proposals can be in flight, and the
same seed and the same evaluations give the same proposals whatever the
number of workers or their speed.

The schedule is plain data (:class:`Schedule`) moved on by pure functions, the
same way strategies are: :func:`advance` tells what the rule lets through and
asks what it allows; :func:`close` tells the rest.  Who evaluates (Ray actors,
the driver, a test's function) is not its concern: the Ray runner
(:mod:`nas.runner`) and :func:`nas.strategies.run_sequential` both drive it.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from search_spaces import ArchConfig

# index -> (objective row to minimize, total constraint violation)
Results = Mapping[int, tuple[np.ndarray, float]]


class Schedule(NamedTuple):
    """Where a search stands: the strategy's state, every proposal, how many results were told."""

    state: object  # the strategy's state (StrategyState)
    proposals: tuple[ArchConfig, ...] = ()
    told: int = 0
    exhausted: bool = False  # the strategy has nothing more to propose


def start(strategy, seed: int) -> Schedule:
    return Schedule(strategy.init(seed))


def needed(sched: Schedule, lag: int) -> int:
    """How many results must have been told before the next proposal is asked for."""
    return max(0, len(sched.proposals) - lag + 1)


def complete(sched: Schedule, budget: int) -> bool:
    """True once no more proposals will be made."""
    return sched.exhausted or len(sched.proposals) >= budget


def _tell(strategy, sched: Schedule, results: Results, upto: int) -> Schedule:
    state, told = sched.state, sched.told
    while told < upto and told in results:
        F, v = results[told]
        state = strategy.tell(state, [sched.proposals[told]], np.asarray(F)[None], np.array([v]))
        told += 1
    return sched._replace(state=state, told=told)


def advance(
    strategy, sched: Schedule, results: Results, *, budget: int, lag: int
) -> tuple[Schedule, list[int]]:
    """Tells every result the lag rule lets through and asks for every proposal it allows.

    Returns the new schedule and the indices of the new proposals.
    """
    new: list[int] = []
    while not complete(sched, budget):
        sched = _tell(strategy, sched, results, needed(sched, lag))
        if sched.told < needed(sched, lag):
            break  # waiting for result ``sched.told``
        archs, state = strategy.ask(sched.state, 1)
        if not archs:
            return sched._replace(state=state, exhausted=True), new
        new.append(len(sched.proposals))
        sched = sched._replace(state=state, proposals=sched.proposals + (archs[0],))
    return sched, new


def close(strategy, sched: Schedule, results: Results) -> Schedule:
    """Tells every remaining result (all must be there)."""
    sched = _tell(strategy, sched, results, len(sched.proposals))
    if sched.told < len(sched.proposals):
        raise ValueError(f"result {sched.told} is missing")
    return sched
