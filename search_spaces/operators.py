"""Seeded operators on a search space (its SpaceStructure): sample, mutate, crossover, extremes.

Mutation and crossover follow the evolutionary NAS of HAT (Wang et al., ACL
2020) and AutoFormer (Chen et al., ICCV 2021): every dimension, and every layer
slot of a per-layer dimension, is resampled with a fixed probability; crossover
takes each of them from one of two parents.  All functions take an integer seed
or a ``numpy.random.Generator`` and always return members of the space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from search_spaces.arch import ArchConfig

if TYPE_CHECKING:
    from search_spaces.structure import Dimension, SpaceStructure


def _rng(rng: np.random.Generator | int) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _pick(d: Dimension, rng: np.random.Generator):
    return d.choices[int(rng.integers(len(d.choices)))]


def _build(space: SpaceStructure, depth: int, values: dict, layers: dict) -> ArchConfig:
    arch = ArchConfig(depth=depth, values=tuple(values.items()), layers=tuple(layers.items()))
    canonical = getattr(space, "canonical", None)  # a staged space's inactive slots at one value
    return canonical(arch) if canonical is not None else arch


def sample(space: SpaceStructure, rng: np.random.Generator | int) -> ArchConfig:
    rng = _rng(rng)
    depths = space.depth_choices
    depth = int(depths[int(rng.integers(len(depths)))])
    values = {d.name: _pick(d, rng) for d in space.global_dimensions}
    layers = {d.name: tuple(_pick(d, rng) for _ in range(depth)) for d in space.layer_dimensions}
    return _build(space, depth, values, layers)


def mutate(
    space: SpaceStructure, arch: ArchConfig, rng: np.random.Generator | int, *, prob: float = 0.3
) -> ArchConfig:
    if not 0.0 <= prob <= 1.0:
        from search_spaces.errors import NasError

        raise NasError(f"field 'prob': mutation probability must be in [0, 1], got {prob!r}")
    rng = _rng(rng)
    space.validate(arch)
    depths = space.depth_choices
    depth = arch.depth
    if len(depths) > 1 and rng.random() < prob:
        depth = int(depths[int(rng.integers(len(depths)))])
    values = {
        d.name: (_pick(d, rng) if rng.random() < prob else arch[d.name]) for d in space.global_dimensions
    }
    layers = {}
    for d in space.layer_dimensions:
        old = arch[d.name]
        seq = []
        for i in range(depth):
            if i >= len(old) or rng.random() < prob:
                seq.append(_pick(d, rng))  # new layers (depth grew) are drawn fresh
            else:
                seq.append(old[i])
        layers[d.name] = tuple(seq)
    return _build(space, depth, values, layers)


def crossover(
    space: SpaceStructure, a: ArchConfig, b: ArchConfig, rng: np.random.Generator | int
) -> ArchConfig:
    rng = _rng(rng)
    space.validate(a)
    space.validate(b)
    depth = a.depth if rng.random() < 0.5 else b.depth
    values = {d.name: (a if rng.random() < 0.5 else b)[d.name] for d in space.global_dimensions}
    layers = {}
    for d in space.layer_dimensions:
        seq = []
        for i in range(depth):
            pa, pb = a[d.name], b[d.name]
            coin = rng.random() < 0.5
            if i < len(pa) and i < len(pb):
                seq.append(pa[i] if coin else pb[i])
            else:
                seq.append(pa[i] if i < len(pa) else pb[i])
        layers[d.name] = tuple(seq)
    return _build(space, depth, values, layers)


def extreme(space: SpaceStructure, *, largest: bool) -> ArchConfig:
    """Smallest or largest config: min/max of numeric dims, first/last choice otherwise."""
    depth = max(space.depth_choices) if largest else min(space.depth_choices)
    pick = (lambda d: d.largest()) if largest else (lambda d: d.smallest())
    values = {d.name: pick(d) for d in space.global_dimensions}
    layers = {d.name: (pick(d),) * depth for d in space.layer_dimensions}
    return _build(space, depth, values, layers)


def sites(space: SpaceStructure, depth: int) -> list[tuple[str, int | None]]:
    """The mutable sites of an architecture of ``depth`` layers: ``("depth", None)``
    (when depth has a choice), each global dim, and each active layer slot of
    each per-layer dim."""
    out: list[tuple[str, int | None]] = [("depth", None)] if len(space.depth_choices) > 1 else []
    out += [(d.name, None) for d in space.global_dimensions if len(d.choices) > 1]
    out += [(d.name, i) for d in space.layer_dimensions if len(d.choices) > 1 for i in range(depth)]
    return out


def mutate_local(
    space: SpaceStructure, arch: ArchConfig, rng: np.random.Generator | int, *, prob: float | None = None
) -> ArchConfig:
    """A local mutation that changes one or a few *dimensions*: ``depth`` and each
    dimension with more than one choice is picked with probability ``prob``
    (default ``1 / number of dimensions``: one on average), and at least one is
    always picked.  A picked global dimension (or depth) takes a *different*
    value; a picked per-layer dimension changes one layer slot (each slot with
    probability ``1 / depth``, at least one) to a different value.  So the
    child is a neighbour of its parent (the local moves of White et al., "Local
    Search is State of the Art for NAS Benchmarks", 2020), and a global choice
    moves as often as a per-layer one however deep the model.  Layers added by a
    deeper depth copy the parent's last layer."""
    if prob is not None and not 0.0 <= prob <= 1.0:
        from search_spaces.errors import NasError

        raise NasError(f"field 'prob': mutation probability must be in [0, 1], got {prob!r}")
    rng = _rng(rng)
    space.validate(arch)
    dims = [d.name for d in space.dimensions() if len(d.choices) > 1]  # depth first
    if not dims:
        return arch
    p = 1.0 / len(dims) if prob is None else prob
    hit = rng.random(len(dims)) < p
    if not hit.any():
        hit[int(rng.integers(len(dims)))] = True
    picked = {d for d, h in zip(dims, hit, strict=True) if h}

    def other(choices, old):
        rest = [c for c in choices if c != old]
        return rest[int(rng.integers(len(rest)))]

    depth = other(space.depth_choices, arch.depth) if "depth" in picked else arch.depth
    values = {
        d.name: other(d.choices, arch[d.name]) if d.name in picked else arch[d.name]
        for d in space.global_dimensions
    }
    layers = {}
    for d in space.layer_dimensions:
        old = arch[d.name]
        seq = [old[min(i, len(old) - 1)] if old else _pick(d, rng) for i in range(depth)]
        if d.name in picked and len(d.choices) > 1 and depth > 0:
            slots = rng.random(depth) < 1.0 / depth
            if not slots.any():
                slots[int(rng.integers(depth))] = True
            for i in np.flatnonzero(slots):
                seq[i] = other(d.choices, seq[i])
        layers[d.name] = tuple(seq)
    return _build(space, depth, values, layers)
