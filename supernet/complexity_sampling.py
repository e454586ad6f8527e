"""Complexity-aware and performance-aware sampling (ElasticViT, Tang et al., ICCV 2023).

Uniform sampling makes subnets of very different size follow each other and
fight over the shared weights (gradient conflict).  ElasticViT splits the
space's complexity range into bins; each optimizer step picks a bin by a
*lazy random walk* from the previous step's bin (stay, or move to an adjacent
bin), so the subnets of adjacent steps have similar complexity while the walk
still visits every bin.  All subnets of one step come from that bin:
rejection sampling of uniform candidates within ``[F, F + bound]`` plus the
bin's smallest architecture.  Options complete the recipe: ``walk_step`` (bins moved
per step), ``include_extremes`` (the space's largest and smallest subnets in every step,
as the sandwich rule) and ``adaptive`` (ShiftNAS-style bin probabilities that follow each
bin's training loss; :mod:`supernet.bin_walk`).

The complexity is any vectorized ``cost_fn(space, ArchBatch) -> (n,) array``;
the default is FLOPs from :func:`search_spaces.complexity`, and a latency
predictor for a device plugs in the same way (bins by predicted latency).  From a
config: ``sampler: {name: complexity_aware, cost: latency, device: DEVICE}``
(``cost: flops`` is the default; :func:`cost_function`).

Performance-aware sampling keeps, per bin, a memory bank of ``(arch, recent
loss)``; with a probability that rises over training it draws from the bank,
weighted by ``softmax(-loss / temperature)``, otherwise it explores new
candidates from the bin; :func:`Sampler.update` refreshes the bank after each
step.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import numpy as np

from search_spaces import ArchBatch, ArchConfig, SearchSpace, complexity, from_batch, sample_batch, to_batch
from search_spaces.errors import NasError
from supernet import bin_walk
from supernet.sampler_api import Sampler, SamplerState, check_k, np_rng

CostFn = Callable[[SearchSpace, ArchBatch], np.ndarray]


def flops_cost(space: SearchSpace, batch: ArchBatch) -> np.ndarray:
    """FLOPs of a batch-1 forward pass (the default bin measure)."""
    return complexity(space, batch)["flops"]


COSTS = ("flops", "latency")


def cost_function(cost: str | CostFn = "flops", *, device: str | None = None) -> CostFn:
    """The bin measure named by a config: ``flops`` or ``latency`` (predicted ms on ``device``,
    from :func:`predictors.load_for`: the device's predictor of the space being trained)."""
    if callable(cost):
        return cost
    if cost == "flops":
        if device is not None:
            raise NasError(f"field 'sampler.device': {device!r} is only used with 'cost: latency'")
        return flops_cost
    if cost != "latency":
        raise NasError(f"field 'sampler.cost' is {cost!r}; choose one of {list(COSTS)}")
    if not isinstance(device, str) or not device:
        raise NasError("field 'sampler.device': 'cost: latency' needs a device with a latency predictor")
    import predictors

    known = predictors.list_devices()
    if device not in known:
        raise NasError(f"field 'sampler.device': unknown device {device!r}; known devices: {known}")
    cache: dict[str, object] = {}

    def latency_cost(space: SearchSpace, batch: ArchBatch) -> np.ndarray:
        if space.name not in cache:
            cache[space.name] = predictors.load_for(device, space)
        return np.asarray(cache[space.name].predict_batch(batch), np.float64)

    return latency_cost


class Bins(NamedTuple):
    """Complexity bins: bin ``b`` holds costs in ``[lows[b], lows[b] + bound]``."""

    lows: np.ndarray  # (n_bins,) float64
    bound: float
    smallest: tuple[ArchConfig, ...]  # per-bin smallest architecture found
    pool: tuple[tuple[ArchConfig, ...], ...]  # per-bin members of the seeded candidate pool

    def bin_of(self, costs: np.ndarray) -> np.ndarray:
        """Index of the bin of each cost (the last bin whose low end is <= cost)."""
        return np.clip(np.searchsorted(self.lows, np.asarray(costs), side="right") - 1, 0, len(self.lows) - 1)


def make_bins(
    space: SearchSpace,
    *,
    num_bins: int = 8,
    bound: float | None = None,
    cost_fn: CostFn = flops_cost,
    pool_size: int = 20000,
    seed: int = 0,
) -> Bins:
    """Equal-width bins over ``[cost(smallest), cost(largest)]``; bins no candidate reaches are dropped."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise NasError(f"field 'sampler.num_bins': expected an integer >= 1, got {num_bins!r}")
    ends = cost_fn(space, to_batch(space, [space.smallest(), space.largest()]))
    lo, hi = float(ends.min()), float(ends.max())
    width = (hi - lo) / num_bins if hi > lo else 1.0
    bound = float(bound) if bound is not None else width
    if bound <= 0:
        raise NasError(f"field 'sampler.bound': must be > 0, got {bound!r}")
    batch = sample_batch(space, seed, pool_size)
    archs = from_batch(space, batch) + [space.smallest(), space.largest()]
    costs = np.concatenate([cost_fn(space, batch), ends])
    lows_all = lo + width * np.arange(num_bins)
    lows, smallest, pool = [], [], []
    for low in lows_all:
        inside = np.flatnonzero((costs >= low) & (costs <= low + bound))
        if inside.size == 0:
            continue
        order = inside[np.argsort(costs[inside], kind="stable")]
        lows.append(low)
        smallest.append(archs[order[0]])
        pool.append(tuple(archs[i] for i in order))
    return Bins(np.asarray(lows), bound, tuple(smallest), tuple(pool))


def _in_bin(
    space: SearchSpace, bins: Bins, b: int, n: int, rng: np.random.Generator, cost_fn: CostFn, rounds: int
) -> list[ArchConfig]:
    """``n`` uniform candidates whose cost is in bin ``b`` (rejection sampling, then the bin's pool)."""
    low, out = bins.lows[b], []
    for _ in range(rounds):
        cand = sample_batch(space, rng, 256)
        costs = cost_fn(space, cand)
        ok = np.flatnonzero((costs >= low) & (costs <= low + bins.bound))
        if ok.size:
            out.extend(from_batch(space, _take(cand, ok[: n - len(out)])))
        if len(out) >= n:
            return out[:n]
    pool = bins.pool[b]
    out.extend(pool[int(i)] for i in rng.integers(len(pool), size=n - len(out)))
    return out


def _take(batch: ArchBatch, idx: np.ndarray) -> ArchBatch:
    return ArchBatch(
        depth=batch.depth[idx],
        active=batch.active[idx],
        codes={k: v[idx] for k, v in batch.codes.items()},
        values={k: v[idx] for k, v in batch.values.items()},
    )


def complexity_aware(
    space: SearchSpace,
    *,
    k: int = 2,
    num_bins: int = 8,
    bound: float | None = None,
    stay_prob: float = 0.5,
    walk_step: int = 1,
    include_smallest: bool = True,
    include_extremes: bool = False,
    adaptive: bool = False,
    adapt_temperature: float = 0.5,
    adapt_floor: float = 0.25,
    loss_decay: float = 0.9,
    cost_fn: CostFn | str = flops_cost,
    cost: str | None = None,
    device: str | None = None,
    rounds: int = 4,
    pool_size: int = 20000,
) -> Sampler:
    """ElasticViT complexity-aware sampling: per step the bin's smallest subnet plus ``k`` random in-bin ones.

    The bin follows a lazy random walk (stay with ``stay_prob``, else move up to
    ``walk_step`` bins) over ``num_bins`` equal-width bins of width ``bound``.
    ``include_extremes`` puts the space's largest and smallest subnets first in every step
    (ElasticViT's recipe keeps the sandwich extremes beside the bin's subnets; with
    ``distill`` the largest is then the teacher).  ``adaptive`` makes the walk's long-run
    bin frequencies follow :func:`supernet.bin_walk.bin_probs` of each bin's
    moving-average training loss (ShiftNAS-style adaptive bin probabilities, Zhang et al.,
    ICCV 2023): more steps where the loss is high; ``adapt_temperature``, ``adapt_floor``
    and ``loss_decay`` shape it.  ``cost`` / ``device`` (or a ``cost_fn`` name) choose
    the bin measure by name (:func:`cost_function`)."""
    check_k(k, minimum=0)
    cost_fn = cost_function(cost if cost is not None else cost_fn, device=device)
    bin_walk.check_walk_options(stay_prob=stay_prob, max_step=walk_step)
    if adaptive:
        bin_walk.check_adaptive_options(temperature=adapt_temperature, floor=adapt_floor, decay=loss_decay)
    bins = make_bins(space, num_bins=num_bins, bound=bound, cost_fn=cost_fn, pool_size=pool_size)
    n_bins = len(bins.lows)
    extremes = [space.largest(), space.smallest()] if include_extremes else []

    def init(key: jax.Array) -> SamplerState:
        state = {"bin": int(np_rng(key).integers(n_bins))}
        return {**state, "bin_loss": [None] * n_bins} if adaptive else state

    def probs(state: SamplerState) -> list[float]:
        return bin_walk.bin_probs(state["bin_loss"], temperature=adapt_temperature, floor=adapt_floor)

    def sample(key: jax.Array, state: SamplerState, step: int):
        rng = np_rng(key)
        b = int(state["bin"])
        if adaptive:
            b = bin_walk.adaptive_walk(rng, b, n_bins, stay_prob, probs(state), walk_step)
        else:
            b = bin_walk.walk(rng, b, n_bins, stay_prob, walk_step)
        archs = ([bins.smallest[b]] if include_smallest else []) + _in_bin(
            space, bins, b, k, rng, cost_fn, rounds
        )
        return extremes + archs, {**state, "bin": b}

    def update(state: SamplerState, archs: Sequence[ArchConfig], losses: Sequence[float]) -> SamplerState:
        if not adaptive:
            return state
        b = int(state["bin"])  # the losses of the step's subnets that lie in its bin
        costs = cost_fn(space, to_batch(space, list(archs)))
        inside = (costs >= bins.lows[b]) & (costs <= bins.lows[b] + bins.bound)
        mine = [float(v) for v, ok in zip(losses, inside, strict=True) if ok]
        bin_loss = list(state["bin_loss"])
        bin_loss[b] = bin_walk.track_loss(bin_loss[b], mine, loss_decay)
        return {**state, "bin_loss": bin_loss}

    def describe(state: SamplerState) -> dict:
        if not adaptive:
            return _describe_bin(state)
        return {"bin": int(state["bin"]), "bin_probs": [round(p, 4) for p in probs(state)]}

    s = _with_bins(Sampler(init, sample, update), bins)
    return s._replace(describe=describe)


def performance_aware(
    space: SearchSpace,
    *,
    k: int = 2,
    num_bins: int = 8,
    bound: float | None = None,
    stay_prob: float = 0.5,
    walk_step: int = 1,
    bank_size: int = 8,
    num_candidates: int = 4,
    exploit_start: float = 0.0,
    exploit_end: float = 0.8,
    total_steps: int = 1000,
    temperature: float = 1.0,
    cost_fn: CostFn | str = flops_cost,
    cost: str | None = None,
    device: str | None = None,
    rounds: int = 4,
    pool_size: int = 20000,
) -> Sampler:
    """ElasticViT performance-aware sampling on top of the complexity-aware bin walk.

    With probability ``p(step)`` rising linearly from ``exploit_start`` to
    ``exploit_end`` over ``total_steps``, each of the ``k`` subnets is drawn
    from the current bin's memory bank, weighted by ``softmax(-loss /
    temperature)``; otherwise it is the best-ranked (by bank loss, unseen
    first) of ``num_candidates`` fresh in-bin candidates.
    """
    check_k(k)
    cost_fn = cost_function(cost if cost is not None else cost_fn, device=device)
    bin_walk.check_walk_options(stay_prob=stay_prob, max_step=walk_step)
    bins = make_bins(space, num_bins=num_bins, bound=bound, cost_fn=cost_fn, pool_size=pool_size)
    n_bins = len(bins.lows)

    def init(key: jax.Array) -> SamplerState:
        return {"bin": int(np_rng(key).integers(n_bins)), "bank": [[] for _ in range(n_bins)]}

    def sample(key: jax.Array, state: SamplerState, step: int):
        rng = np_rng(key)
        b = bin_walk.walk(rng, int(state["bin"]), n_bins, stay_prob, walk_step)
        frac = min(1.0, max(0.0, step / max(1, total_steps)))
        p = exploit_start + (exploit_end - exploit_start) * frac
        bank = state["bank"][b]
        archs = []
        for _ in range(k):
            if bank and rng.random() < p:
                losses = np.asarray([loss for _, loss in bank], dtype=np.float64)
                w = np.exp(-(losses - losses.min()) / temperature)
                pick = int(rng.choice(len(bank), p=w / w.sum()))
                archs.append(ArchConfig.from_json(bank[pick][0]))
            else:
                cands = _in_bin(space, bins, b, num_candidates, rng, cost_fn, rounds)
                known = {a: loss for a, loss in bank}
                archs.append(min(cands, key=lambda a: known.get(a.to_json(), -np.inf)))
        return archs, {**state, "bin": b}

    def update(state: SamplerState, archs: Sequence[ArchConfig], losses: Sequence[float]) -> SamplerState:
        bank = [list(entries) for entries in state["bank"]]
        costs = cost_fn(space, to_batch(space, list(archs)))
        for arch, loss, b in zip(archs, losses, bins.bin_of(costs), strict=True):
            key = arch.to_json()
            entries = [e for e in bank[int(b)] if e[0] != key] + [[key, float(loss)]]
            if len(entries) > bank_size:  # forget the worst
                worst = max(range(len(entries)), key=lambda i: entries[i][1])
                entries.pop(worst)
            bank[int(b)] = entries
        return {**state, "bank": bank}

    return _with_bins(Sampler(init, sample, update), bins)


class BinnedSampler(NamedTuple):
    """A :class:`Sampler` plus its bins (the tests and the study read them)."""

    init: Callable
    sample: Callable
    update: Callable
    describe: Callable
    bins: Bins


def _describe_bin(state: dict) -> dict:
    return {"bin": int(state["bin"])}


def _with_bins(s: Sampler, bins: Bins) -> BinnedSampler:
    return BinnedSampler(s.init, s.sample, s.update, _describe_bin, bins)
