"""One table of tests that every search strategy joins (the optax way).

The synthetic problems have a known optimum: a hidden target architecture of
the ``vit-mnist`` space (distance in the scaled encoding, plus seeded noise)
and, for two objectives, that distance against the exact parameter count.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from nas import strategies as S
from nas.objectives import hypervolume
from search_spaces import complexity, load_space
from search_spaces.errors import NasError

SPACE = load_space("vit-mnist")
TARGET = SPACE.sample(123)
SCALE = np.where(
    np.abs(SPACE.encode([SPACE.largest()])[0]) > 0, np.abs(SPACE.encode([SPACE.largest()])[0]), 1
)

# name -> (options, budget, seeds): Bayesian optimization costs more per proposal.  The
# evolutionary and local strategies join with their own operators (``screen: 1``, no
# surrogate), which is what these synthetic problems test; their surrogate-screened
# defaults are checked below and on the real HW-GPT-Bench L table (test_search_tables.py).
TABLE = {
    "random": ({}, 60, 4),
    "evolution": ({"population": 20, "parents": 5, "screen": 1}, 60, 4),
    "aging": ({"population": 20, "sample_size": 5, "initial": 20, "screen": 1}, 60, 4),
    "nsga2": (
        {"initial": 20, "screen": 1},
        60,
        4,
    ),  # population 20: with 10 and local moves it converged early
    "local": ({"initial": 10, "screen": 1}, 60, 4),
    "bayesian": ({"initial": 8, "candidates": 48}, 24, 2),
}


def distance(archs, noise: float = 0.05):
    d = np.abs(SPACE.encode(archs) / SCALE - SPACE.encode([TARGET])[0] / SCALE).sum(1)
    eps = [np.random.default_rng(zlib.crc32(a.to_json().encode())).normal() for a in archs]
    return d + noise * np.asarray(eps)


def single(archs):
    return distance(archs)[:, None], np.zeros(len(archs))


def double(archs):
    p = complexity(SPACE, archs)["params"] / 1e5
    return np.stack([distance(archs), p], 1), np.zeros(len(archs))


def best_single(name, seed, budget):
    opts = TABLE[name][0]
    state = S.run_sequential(S.make(name, SPACE, **opts), single, budget=budget, seed=seed, lag=2)
    assert len(state.told) == budget
    return min(distance([S.base.parse_arch(a) for a in state.told], noise=0.0))


def hv_double(name, seed, budget):
    state = S.run_sequential(S.make(name, SPACE, **TABLE[name][0]), double, budget=budget, seed=seed, lag=2)
    return hypervolume(np.array(state.F), [15.0, 10.0])


@pytest.mark.parametrize("name", sorted(set(TABLE) - {"random"}))
def test_beats_random_single_objective(name):
    _, budget, seeds = TABLE[name]
    ours = np.mean([best_single(name, s, budget) for s in range(seeds)])
    base = np.mean([best_single("random", s, budget) for s in range(seeds)])
    assert ours < base, (name, ours, base)


@pytest.mark.parametrize("name", ["nsga2", "evolution", "local", "bayesian"])
def test_beats_random_two_objectives(name):
    _, budget, seeds = TABLE[name]
    ours = np.mean([hv_double(name, s, budget) for s in range(seeds)])
    base = np.mean([hv_double("random", s, budget) for s in range(seeds)])
    assert ours > base, (name, ours, base)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_same_seed_same_proposals_and_state_round_trips(name):
    strat = S.make(name, SPACE, **TABLE[name][0])
    a = S.run_sequential(strat, single, budget=12, seed=3, lag=3)
    b = S.run_sequential(strat, single, budget=12, seed=3, lag=3)
    c = S.run_sequential(strat, single, budget=12, seed=4, lag=3)
    assert a == b
    assert a.asked != c.asked
    back = S.StrategyState.from_dict(json.loads(json.dumps(a.to_dict())))
    assert back == a
    assert len(set(a.asked)) == len(a.asked)  # never the same proposal twice


@pytest.mark.parametrize("name", sorted(TABLE))
def test_pool_restricts_every_proposal(name):
    pool = SPACE.sample_many(7, 20)
    strat = S.make(
        name, SPACE, pool=pool, **{**TABLE[name][0], **({"initial": 5} if name == "bayesian" else {})}
    )
    state = S.run_sequential(strat, single, budget=20, seed=0, lag=2)
    members = {a.to_json() for a in pool}
    assert set(state.asked) == members  # the whole pool, each member once
    archs, _ = strat.ask(state, 3)
    assert archs == []  # exhausted


@pytest.mark.parametrize("name", sorted(TABLE))
def test_prefilter_constraints_met_by_resampling(name):
    limit = 60_000.0

    def small(archs):
        return complexity(SPACE, archs)["params"] <= limit

    pre = S.Prefilter(small, f"params <= {limit:g}")
    state = S.run_sequential(
        S.make(name, SPACE, prefilter=pre, **TABLE[name][0]), single, budget=16, seed=1, lag=2
    )
    archs = [S.base.parse_arch(a) for a in state.asked]
    assert len(archs) == 16 and small(archs).all()


@pytest.mark.parametrize("name", sorted(TABLE))
def test_empty_constraint_region_is_a_clear_error(name):
    pre = S.Prefilter(lambda archs: np.zeros(len(archs), bool), "params <= 1")
    strat = S.make(name, SPACE, prefilter=pre, **TABLE[name][0])
    with pytest.raises(NasError, match="constraint region looks empty.*params <= 1"):
        strat.ask(strat.init(0), 1)


@pytest.mark.parametrize("name", ["evolution", "aging", "nsga2", "local"])
def test_screened_defaults_are_deterministic_and_pick_what_the_surrogate_rates_best(name):
    """With the default ``screen`` the proposals after the initial design are the
    surrogate's picks among the strategy's own offspring: same seed, same proposals,
    and not what the same strategy without the surrogate proposes."""
    opts = {"population" if name == "evolution" else "initial": 4}
    strat = S.make(name, SPACE, **opts)
    a = S.run_sequential(strat, double, budget=12, seed=5, lag=2)
    assert a == S.run_sequential(S.make(name, SPACE, **opts), double, budget=12, seed=5, lag=2)
    plain = S.run_sequential(S.make(name, SPACE, **opts, screen=1), double, budget=12, seed=5, lag=2)
    assert a.asked[:4] == plain.asked[:4] and a.asked[6:] != plain.asked[6:]
    with pytest.raises(NasError, match="strategy.screen"):
        S.make(name, SPACE, screen=0)


def test_unknown_strategy_and_option_are_clear_errors():
    with pytest.raises(NasError, match="unknown strategy 'cmaes'"):
        S.make("cmaes", SPACE)
    with pytest.raises(NasError, match="strategy.popsize"):
        S.make("evolution", SPACE, popsize=3)
    with pytest.raises(NasError, match="strategy.mutation_prob"):
        S.make("evolution", SPACE, mutation_prob=1.5)
