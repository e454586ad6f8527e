"""Architecture features for distances (table moves) and surrogates.

Three groups of columns, each scaled to [0, 1] per dimension:

* **global**: ``depth`` and every global dimension (numeric: position in its
  range; strings and booleans: one-hot, halved so that a change counts 1);
* **aggregate**: for each per-layer dimension, its mean over the active layers
  (numeric) or the share of active layers taking each choice (strings): what
  a per-layer choice does to the whole model (its width, its cost);
* **slot**: every per-layer slot (0 where inactive).

A table search replaces a mutant by the nearest unused row under the weighted
L1 distance of :func:`locality_weights`: global dimensions weigh most, then
aggregates, then single slots.  So a row that keeps what the mutation kept
(the embedding width, the depth) is always preferred, and among those the
row whose layers add up to the mutant's (HW-GPT-Bench's 5,245 rows of a space
of 10^23 architectures hold almost none of a mutant's exact slot values).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces.batch import to_batch

SLOT_WEIGHT = 0.2  # all slots of a dimension together weigh 0.2 of its aggregate


def _unit(values: np.ndarray, choices) -> np.ndarray:
    c = np.asarray([float(x) for x in choices])
    lo, hi = c.min(), c.max()
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def features(space: SearchSpace, archs: Sequence[ArchConfig]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, group)``: features ``(n, f)`` and each column's group (0 global,
    1 aggregate, 2 slot)."""
    b = to_batch(space, list(archs))
    n = len(b)
    cols: list[np.ndarray] = []
    groups: list[int] = []

    def add(x: np.ndarray, g: int) -> None:
        x = x.reshape(n, -1)
        cols.append(x)
        groups.extend([g] * x.shape[1])

    add(_unit(b.depth.astype(np.float64), space.depth_choices), 0)
    for d in space.global_dimensions:
        if d.kind in ("str", "bool") or d.name not in b.values:
            add(0.5 * np.eye(len(d.choices))[b.codes[d.name]], 0)
        else:
            add(_unit(b.values[d.name], d.choices), 0)
    count = np.maximum(b.active.sum(1, keepdims=True), 1)
    for d in space.layer_dimensions:
        if d.kind in ("str", "bool") or d.name not in b.values:
            onehot = np.eye(len(d.choices))[b.codes[d.name]] * b.active[..., None]
            add(0.5 * onehot.sum(1) / count, 1)
            add(0.5 * onehot.reshape(n, -1), 2)
        else:
            unit = np.where(b.active, _unit(b.values[d.name], d.choices), 0.0)
            add(unit.sum(1, keepdims=True) / count, 1)
            add(unit, 2)
    return np.concatenate(cols, axis=1), np.asarray(groups)


def locality_weights(space: SearchSpace, group: np.ndarray) -> np.ndarray:
    """Column weights of the table-move distance (see the module docstring)."""
    w = np.select([group == 0, group == 1], [8.0, 1.0], SLOT_WEIGHT / max(space.max_depth, 1))
    return w
