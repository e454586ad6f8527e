"""ArchBatch: many architectures of one space as a struct of numpy arrays.

Scoring 100k architectures one Python object at a time is slow; complexity
formulas and encodings work on this columnar form instead.  Per-layer columns
have shape ``(n, max_depth)`` and hold 0 in inactive slots; string and boolean
dims hold choice indices (``codes``) next to numeric values (``values``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from search_spaces.arch import ArchConfig

if TYPE_CHECKING:
    from search_spaces.structure import SpaceStructure


@dataclass(frozen=True)
class ArchBatch:
    """Columns of ``n`` architectures.

    Attributes:
      depth: (n,) int.
      active: (n, max_depth) bool, ``slot < depth``.
      codes: dim name -> choice indices, (n,) for global dims, (n, max_depth)
        for per-layer dims (0 where inactive).
      values: dim name -> float values for numeric and boolean dims (0 where
        inactive); absent for string dims.
    """

    depth: np.ndarray
    active: np.ndarray
    codes: dict[str, np.ndarray]
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.depth.shape[0])

    def is_(self, name: str, choice: str, space: SpaceStructure) -> np.ndarray:
        """Boolean mask of where per-layer / global dim ``name`` equals ``choice``."""
        idx = space.dimension(name).index(choice)
        return self.codes[name] == idx


def _finish(space: SpaceStructure, depth: np.ndarray, codes: dict[str, np.ndarray]) -> ArchBatch:
    active = np.arange(space.max_depth)[None, :] < depth[:, None]
    values = {}
    for d in list(space.global_dimensions) + list(space.layer_dimensions):
        if d.kind == "str":
            continue
        table = np.asarray([float(c) for c in d.choices])
        v = table[codes[d.name]]
        values[d.name] = np.where(active, v, 0.0) if d.per_layer else v
    for d in space.layer_dimensions:
        codes[d.name] = np.where(active, codes[d.name], 0)
    return ArchBatch(depth=depth, active=active, codes=codes, values=values)


def to_batch(space: SpaceStructure, archs: ArchConfig | Sequence[ArchConfig]) -> ArchBatch:
    """Columnar form of validated architectures."""
    if isinstance(archs, ArchConfig):
        archs = [archs]
    n, L = len(archs), space.max_depth
    depth = np.fromiter((a.depth for a in archs), dtype=np.int64, count=n)
    codes: dict[str, np.ndarray] = {}
    for d in space.global_dimensions:
        lookup = _lookup(d)
        codes[d.name] = np.fromiter((lookup(a[d.name]) for a in archs), dtype=np.int64, count=n)
    for d in space.layer_dimensions:
        lookup = _lookup(d)
        col = np.zeros((n, L), dtype=np.int64)
        for i, a in enumerate(archs):
            seq = a[d.name]
            col[i, : len(seq)] = [lookup(v) for v in seq]
        codes[d.name] = col
    return _finish(space, depth, codes)


def _lookup(d):
    # Fast path through a dict keyed by (type-kind, value); falls back to Dimension.index.
    table = {(type(c) is bool, c): i for i, c in enumerate(d.choices)}

    def f(v):
        i = table.get((type(v) is bool, v))
        if i is None:
            i = d.index(v)
            if i < 0:
                from search_spaces.errors import InvalidArchError

                raise InvalidArchError(d.name, v, d.choices)
        return i

    return f


def sample_batch(space: SpaceStructure, rng: np.random.Generator | int, n: int) -> ArchBatch:
    """``n`` uniform samples drawn directly in columnar form (vectorized)."""
    rng = np.random.default_rng(rng)
    depths = np.asarray(space.depth_choices, dtype=np.int64)
    depth = depths[rng.integers(len(depths), size=n)]
    codes = {d.name: rng.integers(len(d.choices), size=n) for d in space.global_dimensions}
    for d in space.layer_dimensions:
        codes[d.name] = rng.integers(len(d.choices), size=(n, space.max_depth))
    return _finish(space, depth, codes)


def from_batch(space: SpaceStructure, batch: ArchBatch) -> list[ArchConfig]:
    """Back to ArchConfig objects."""
    out = []
    for i in range(len(batch)):
        depth = int(batch.depth[i])
        values = {d.name: d.choices[int(batch.codes[d.name][i])] for d in space.global_dimensions}
        layers = {
            d.name: tuple(d.choices[int(c)] for c in batch.codes[d.name][i, :depth])
            for d in space.layer_dimensions
        }
        arch = ArchConfig(depth=depth, values=tuple(values.items()), layers=tuple(layers.items()))
        canonical = getattr(space, "canonical", None)  # a staged space's inactive slots at one value
        out.append(canonical(arch) if canonical is not None else arch)
    return out
