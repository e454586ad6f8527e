"""One table that every sampler joins: determinism, membership, and the bin walk."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from search_spaces import complexity
from supernet.complexity_sampling import complexity_aware, flops_cost, performance_aware
from supernet.samplers import make_sampler, sandwich, uniform

SAMPLERS = {
    "uniform": lambda s: uniform(s, k=2),
    "sandwich": lambda s: sandwich(s, k=2),
    "complexity_aware": lambda s: complexity_aware(s, k=2, num_bins=6, pool_size=4000),
    "performance_aware": lambda s: performance_aware(s, k=2, num_bins=6, pool_size=4000, total_steps=30),
    "elasticvit_adaptive": lambda s: complexity_aware(
        s, k=2, num_bins=6, pool_size=4000, walk_step=2, include_extremes=True, adaptive=True
    ),
}


def _run(sampler, seed: int, steps: int):
    state = sampler.init(jax.random.key(seed))
    key = jax.random.key(seed + 100)
    out, states = [], []
    for step in range(steps):
        archs, state = sampler.sample(jax.random.fold_in(key, step), state, step)
        losses = [float(len(a.to_json()) % 7) for a in archs]  # any deterministic feedback
        state = sampler.update(state, archs, losses)
        out.append(archs)
        states.append(state)
    return out, states


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("space_name", ["vit_space", "lm_space"])
def test_sampler_is_deterministic_and_stays_in_space(request, name, space_name):
    space = request.getfixturevalue(space_name)
    sampler = SAMPLERS[name](space)
    a, sa = _run(sampler, 0, 30)
    b, sb = _run(sampler, 0, 30)
    c, _ = _run(sampler, 1, 30)
    assert a == b and sa == sb
    assert a != c
    for archs in a:
        assert archs
        for arch in archs:
            space.validate(arch)


@pytest.mark.parametrize("name", ["complexity_aware", "performance_aware"])
def test_bin_walk_moves_at_most_one_bin_and_covers_all(vit_space, name):
    sampler = SAMPLERS[name](vit_space)
    bins = sampler.bins
    archs, states = _run(sampler, 3, 400)
    walk = [s["bin"] for s in states]
    assert max(abs(x - y) for x, y in zip(walk, walk[1:], strict=False)) <= 1
    assert set(walk) == set(range(len(bins.lows)))
    assert len(bins.lows) >= 4
    for b, group in zip(walk, archs, strict=True):  # every subnet of a step lies in that step's bin
        costs = complexity(vit_space, group)["flops"]
        assert np.all(costs >= bins.lows[b] - 1e-6) and np.all(costs <= bins.lows[b] + bins.bound + 1e-6)


def test_sandwich_contains_extremes(vit_space):
    archs, _ = sandwich(vit_space, k=1).sample(jax.random.key(0), {}, 0)
    assert archs[0] == vit_space.largest() and archs[1] == vit_space.smallest() and len(archs) == 3


def test_performance_aware_prefers_low_loss_bank_entries(vit_space):
    s = performance_aware(
        vit_space, k=4, num_bins=1, pool_size=2000, exploit_start=1.0, exploit_end=1.0, temperature=0.05
    )
    state = s.init(jax.random.key(0))
    good, bad = vit_space.sample(1), vit_space.sample(2)
    state = s.update(state, [good, bad], [0.1, 3.0])
    picks = [a for i in range(10) for a in s.sample(jax.random.key(i), state, 5)[0]]
    assert picks.count(good) == len(picks)


def test_custom_cost_function_defines_bins(vit_space):
    def depth_cost(space, batch):  # e.g. a latency predictor: any vectorized cost
        return batch.depth.astype(float)

    s = complexity_aware(
        vit_space, k=3, num_bins=6, cost_fn=depth_cost, pool_size=2000, include_smallest=False
    )
    state = s.init(jax.random.key(0))
    for i in range(20):
        archs, state = s.sample(jax.random.key(i), state, i)
        assert len({a.depth for a in archs}) == 1
    assert flops_cost is not depth_cost


def test_unknown_sampler_is_a_clear_error(vit_space):
    from search_spaces.errors import NasError

    with pytest.raises(NasError, match="'sampler.name' is 'nope'"):
        make_sampler("nope", vit_space)


def test_latency_bins_from_a_config(vit_space):
    """``sampler: {name: complexity_aware, cost: latency, device: cpu-host}`` as training builds it:
    every subnet of a step lies in that step's bin of predicted latency."""
    import predictors
    from search_spaces import to_batch
    from search_spaces.errors import NasError
    from supernet.config import load_config

    cfg = load_config(
        None,
        [
            "space=vit-mnist",
            "sampler.cost=latency",
            "sampler.device=cpu-host",
            "sampler.options={k: 3, num_bins: 5, pool_size: 3000}",
        ],
    )
    s = make_sampler(cfg["sampler"]["name"], vit_space, **cfg["sampler"]["options"])
    ms = predictors.load("cpu-host", space="vit-mnist")
    lows, bound = s.bins.lows, s.bins.bound
    assert lows[0] == pytest.approx(ms.predict([vit_space.smallest()])[0], rel=1e-9)
    state = s.init(jax.random.key(0))
    seen = set()
    for i in range(12):
        archs, state = s.sample(jax.random.key(i), state, i)
        b = int(state["bin"])
        cost = ms.predict_batch(to_batch(vit_space, archs))
        assert ((cost >= lows[b] - 1e-9) & (cost <= lows[b] + bound + 1e-9)).all(), (b, cost)
        seen.add(b)
    assert len(seen) >= 2
    with pytest.raises(NasError, match="sampler.device"):
        make_sampler("complexity_aware", vit_space, cost="latency", device="nope")
    with pytest.raises(NasError, match="sampler.cost"):
        make_sampler("complexity_aware", vit_space, cost="params")
    with pytest.raises(NasError, match="cost"):  # the string form of the Python option
        make_sampler("complexity_aware", vit_space, cost_fn="nope")


def test_the_trainer_learns_what_to_log_and_the_run_length_through_the_sampler(vit_space):
    """describe(state) says what to log; make_sampler(run_steps=) fills total_steps where a
    sampler's schedule needs it; the trainer reads no sampler state of its own."""
    import inspect

    import jax

    from supernet import train
    from supernet.samplers import make_sampler

    s = make_sampler("complexity_aware", vit_space, num_bins=3, pool_size=500, run_steps=10)
    state = s.init(jax.random.key(0))
    assert s.describe(state) == {"bin": state["bin"]}
    assert make_sampler("uniform", vit_space, run_steps=10).describe({}) == {}
    p = make_sampler("performance_aware", vit_space, num_bins=3, pool_size=500, run_steps=10)
    assert p.describe(p.init(jax.random.key(0)))["bin"] in range(3)
    src = inspect.getsource(train)
    assert "sampler_state[" not in src and "total_steps" not in src


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_state_round_trips_through_json(vit_space, name):
    """A checkpoint stores the state as JSON: a run continued from the decoded state samples
    exactly what the uninterrupted run samples."""
    sampler = SAMPLERS[name](vit_space)
    full, states = _run(sampler, 5, 8)
    state = json.loads(json.dumps(states[3]))
    key = jax.random.key(105)
    for step in range(4, 8):
        archs, state = sampler.sample(jax.random.fold_in(key, step), state, step)
        assert archs == full[step]
        state = sampler.update(state, archs, [float(len(a.to_json()) % 7) for a in archs])
        assert json.loads(json.dumps(state)) == states[step]


def test_walk_step_and_extremes(vit_space):
    s = complexity_aware(vit_space, k=1, num_bins=8, pool_size=4000, walk_step=2, include_extremes=True)
    archs, states = _run(s, 0, 200)
    walk = [st["bin"] for st in states]
    moves = {abs(x - y) for x, y in zip(walk, walk[1:], strict=False)}
    assert moves == {0, 1, 2}
    assert all(a[:2] == [vit_space.largest(), vit_space.smallest()] and len(a) == 4 for a in archs)


def test_adaptive_walk_has_the_target_as_its_stationary_distribution():
    from supernet import bin_walk

    p = [0.05, 0.4, 0.1, 0.05, 0.3, 0.1]
    rng, b, seen = np.random.default_rng(0), 0, np.zeros(6)
    for _ in range(40000):
        b = bin_walk.adaptive_walk(rng, b, 6, 0.3, p, max_step=2)
        seen[b] += 1
    np.testing.assert_allclose(seen / seen.sum(), p, atol=0.02)
    q = bin_walk.bin_probs([2.0, None, 1.0], temperature=0.5, floor=0.25)
    assert q[0] > q[1] > q[2] and abs(sum(q) - 1) < 1e-12 and min(q) > 0.25 / 3


def test_adaptive_probabilities_move_toward_the_high_loss_bin(vit_space):
    """A bin whose subnets keep a high loss gets a higher probability and more steps than the
    plain walk gives it (ShiftNAS-style shift)."""
    opts = dict(k=1, num_bins=4, pool_size=4000, include_smallest=False)
    bins = complexity_aware(vit_space, **opts).bins

    def visits(adaptive: bool):
        s = complexity_aware(vit_space, adaptive=adaptive, adapt_temperature=0.25, **opts)
        state, key, count = s.init(jax.random.key(0)), jax.random.key(1), 0
        for step in range(150):
            archs, state = s.sample(jax.random.fold_in(key, step), state, step)
            b = bins.bin_of(complexity(vit_space, archs)["flops"])
            state = s.update(state, archs, [3.0 if i == 0 else 1.0 for i in b])
            count += int(state["bin"] == 0)
        return count, s.describe(state)

    (plain, _), (adapted, described) = visits(False), visits(True)
    probs = described["bin_probs"]
    assert probs[0] == max(probs) and probs[0] > 0.5
    assert adapted > 2 * plain
