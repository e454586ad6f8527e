"""Fixed-length numeric encoding of architectures for predictors and surrogates.

Layout (see :func:`feature_names`): ``depth``; each global dim; then each
per-layer dim for every slot ``0..max_depth-1``.  Numeric dims give their value,
booleans 0/1, strings a one-hot block over the choices.  Inactive slots are all
zeros; since ``depth`` is encoded, distinct configs get distinct vectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from search_spaces.arch import ArchConfig
from search_spaces.batch import ArchBatch, to_batch

if TYPE_CHECKING:
    from search_spaces.structure import SpaceStructure


def feature_names(space: SpaceStructure) -> list[str]:
    names = ["depth"]
    for d in space.global_dimensions:
        names += [f"{d.name}={c}" for c in d.choices] if d.kind == "str" else [d.name]
    for d in space.layer_dimensions:
        for i in range(space.max_depth):
            if d.kind == "str":
                names += [f"{d.name}[{i}]={c}" for c in d.choices]
            else:
                names.append(f"{d.name}[{i}]")
    return names


def encode_batch(space: SpaceStructure, batch: ArchBatch) -> np.ndarray:
    cols = [batch.depth[:, None].astype(np.float64)]
    for d in space.global_dimensions:
        if d.kind == "str":
            cols.append(np.eye(len(d.choices))[batch.codes[d.name]])
        else:
            cols.append(batch.values[d.name][:, None])
    for d in space.layer_dimensions:
        if d.kind == "str":
            onehot = np.eye(len(d.choices))[batch.codes[d.name]] * batch.active[..., None]
            cols.append(onehot.reshape(len(batch), -1))
        else:
            cols.append(batch.values[d.name])
    return np.concatenate(cols, axis=1)


def encode(space: SpaceStructure, archs: ArchConfig | Sequence[ArchConfig]) -> np.ndarray:
    """Shape ``(n, len(feature_names(space)))`` float64."""
    return encode_batch(space, to_batch(space, archs))
