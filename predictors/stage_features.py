"""Latency features of staged vision architectures (:mod:`search_spaces.stages`).

The same two parts as the flat features (:mod:`predictors.features`): roofline-style sums per
op kind (Williams et al., CACM 2009) from :mod:`search_spaces.stage_complexity`, then a
per-layer lookup table in count form (FBNet, Wu et al., CVPR 2019; Once-for-All, Cai et al.,
ICLR 2020), here *per stage*, since a stage's token grid is fixed: how many active layers of
stage ``s`` have each (width, heads) and (width, MLP width) combination (transformer; (width,
heads, mixer) in a stage that declares several token mixers) or
each (width, kernel, expansion) combination (MBConv), and which width each stage has.  A
linear model on these columns learns one latency per layer kind and stage.  Vectorized over
an :class:`~search_spaces.ArchBatch`.
"""

from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING

import numpy as np

from search_spaces.batch import ArchBatch
from search_spaces.stage_complexity import KINDS, complexity, stage_terms

if TYPE_CHECKING:
    from search_spaces.space import SearchSpace

_KIND_FIELDS = {"transformer": (("num_heads",), ("mlp_dim",)), "mbconv": (("kernel_size", "expand_ratio"),)}


def _tables(space: SearchSpace) -> list[tuple[int, tuple[str, ...], list[tuple]]]:
    """(stage, per-layer fields, their (width, *values) combinations) of each table block."""
    out = []
    for s, st in enumerate(space.stages):
        kinds = _KIND_FIELDS[st.block]
        if "mixer" in dict(st.layer_choices):  # a stage of several mixers: (width, heads, mixer)
            kinds = ((*kinds[0], "mixer"), *kinds[1:])
        for fields in kinds:
            combos = list(product(st.widths, *(st.choices(f) for f in fields)))
            out.append((s, fields, combos))
    return out


def feature_names(space: SearchSpace) -> list[str]:
    """Column names of :func:`features` for a staged space."""
    names = [f"macs_{k}" for k in KINDS] + ["bytes_weights", "act_bytes", "batch_size"]
    for s in range(len(space.stages)):
        names += [f"s{s}_macs", f"s{s}_layers", f"s{s}_bytes_residual", f"s{s}_act_bytes"]
        names += [f"s{s}_embed_dim={e}" for e in space.stages[s].widths]
    for s, fields, combos in _tables(space):
        names += [
            f"s{s}:" + ",".join(f"{f}={v}" for f, v in zip(("embed_dim", *fields), c, strict=True))
            for c in combos
        ]
    return names


def features(space: SearchSpace, b: ArchBatch, *, batch_size: int = 1) -> np.ndarray:
    """(n, len(feature_names(space))) float64 matrix (see the module docstring)."""
    c = complexity(space, b, batch_size=batch_size)
    terms = stage_terms(space, b, batch_size=batch_size)
    n, B = len(b), float(batch_size)
    cols = [c[f"macs_{k}"] for k in KINDS] + [4.0 * c["params"], c["act_bytes"], np.full(n, B)]
    for s, t in enumerate(terms):
        cols += [
            c[f"macs_s{s}"],
            t["layers"],
            4.0 * B * t["tokens"] * t["width"] * t["layers"],
            c[f"act_bytes_s{s}"],
        ]
        cols += [(t["width"] == e).astype(np.float64) for e in space.stages[s].widths]
    for s, fields, combos in _tables(space):
        active = terms[s]["active"]
        width = b.values[f"s{s}_embed_dim"]
        for combo in combos:
            hit = np.zeros(n)
            for j in range(active.shape[1]):
                match = active[:, j] & (width == combo[0])
                for f, v in zip(fields, combo[1:], strict=True):
                    name = f"s{s}_{f}_{j}"
                    if name in b.values:
                        match &= b.values[name] == v
                    else:  # a string dimension (mixer): its choice index
                        match &= b.codes[name] == space.stages[s].choices(f).index(v)
                hit += match
            cols.append(hit)
    return np.stack(cols, axis=1).astype(np.float64)
