"""Latency features of architectures, from the full per-layer architecture.

Roofline-style sums (Williams et al., "Roofline", CACM 2009): the time of a
kernel is bounded by its arithmetic (MACs) and by the bytes it moves, plus a
per-op launch cost, and different op kinds run at different rates on a device
(nn-Meter, Zhang et al., MobiSys 2021, predicts per kernel for this reason).  So
the features are MACs and bytes *per op kind* summed over the actual layers
(each token mixer separately: softmax and linear attention in fixed columns, any other
mixer a space declares in four columns of its own), op counts (layers of each kind,
heads) and the widths themselves.

Sub-millisecond forwards on a CPU are dominated by per-op costs that no sum of
MACs and bytes captures (dispatch, small-matrix efficiency that jumps with the
width), so the features end with a per-layer *lookup table* in count form, as
latency tables of layer choices do in FBNet (Wu et al., CVPR 2019) and
Once-for-All (Cai et al., ICLR 2020): how many active layers have each
(embedding width, attention choices) combination and each (embedding width,
MLP width) combination, and which embedding width the model has.  A linear
model on these columns learns one latency per layer kind.  Everything is
vectorized over :class:`~search_spaces.ArchBatch`.  The MACs come from
:func:`search_spaces.complexity.layer_macs`, the same formulas as ``complexity``.

Llama blocks (``task.block: llama``) use the same columns: grouped-query
attention moves ``B T (A + 2 K hd)`` q/k/v bytes (``K`` KV heads; ``3 B T A``
when K = H, as in GPT blocks), SwiGLU ``3 B T M`` hidden bytes (gate, up and
their product), and ``num_kv_heads`` joins the attention-block choices of the
per-layer table, so each (width, heads, KV heads) layer kind gets its own count.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from search_spaces import ArchBatch, ArchConfig, NasError, SearchSpace, complexity, mixers, to_batch
from search_spaces.complexity import _col, mixer_terms, mlp_width, num_ffn, task_geometry

FEATURE_VERSION = 2

# the two mixers of feature version 2 (softmax and linear attention) have fixed columns in
# every space; any other mixer a space declares adds its own four after FEATURE_NAMES
_ALWAYS = mixers.always()
_COLS = [c.columns() for c in _ALWAYS]

FEATURE_NAMES = (
    "macs_embed",
    "macs_attn_proj",
    *[c[0] for c in _COLS],
    "macs_mlp",
    "macs_head",
    "bytes_weights",
    "bytes_residual",
    "bytes_qkv",
    *[c[1] for c in _COLS],
    "bytes_mlp_hidden",
    "bytes_head_out",
    "depth",
    *[c[2] for c in _COLS],
    *[c[3] for c in _COLS],
    "embed_dim",
    "mlp_dim_sum",
    "mlp_dim_max",
    "seq_len",
    "batch_size",
)


# The layer dims of the MLP sub-block; every other layer dim belongs to attention.
MLP_DIMS = ("mlp_dim", "mlp_ratio", "num_ffn")
WIDTH_DIM = "embed_dim"


def _table_keys(space: SearchSpace) -> tuple[list[str], list[str], list[str]]:
    """Dim names of the table: (global width dims, attention-block dims, MLP-block dims)."""
    width = [WIDTH_DIM] if WIDTH_DIM in space.global_dims else []
    layer = sorted(space.layer_dims)  # by name: a space read back from JSON may list them in another order
    return width, [d for d in layer if d not in MLP_DIMS], [d for d in layer if d in MLP_DIMS]


def _combos(space: SearchSpace, dims: list[str]) -> list[tuple]:
    from itertools import product

    choices = [space.global_dims.get(d, space.layer_dims.get(d)) for d in dims]
    return list(product(*choices))


def _label(dims: list[str], combo: tuple) -> str:
    return ",".join(f"{d}={v}" for d, v in zip(dims, combo, strict=True))


def table_names(space: SearchSpace) -> list[str]:
    """Column names of the per-layer lookup-table part of :func:`features`."""
    width, attn, mlp = _table_keys(space)
    names = [f"model[{_label(width, c)}]" for c in _combos(space, width)]
    for block, dims in (("attn", attn), ("mlp", mlp)):
        if dims:
            names += [f"{block}_layers[{_label(width + dims, c)}]" for c in _combos(space, width + dims)]
    return names


def _extra_mixers(space: SearchSpace) -> list[mixers.Choice]:
    """The space's mixer choices beyond the fixed columns' two, in declaration order."""
    out: list[mixers.Choice] = []
    for c in mixers.choices_of(space):
        if c not in _ALWAYS and c not in out:
            out.append(c)
    return out


def mixer_names(space: SearchSpace) -> list[str]:
    """The four columns (MACs, bytes, layers, heads) of each mixer beyond the fixed ones."""
    return [n for c in _extra_mixers(space) for n in c.columns()]


def feature_names(space: SearchSpace | None = None) -> list[str]:
    """Column names of :func:`features` for ``space`` (the feature definition stored with a
    predictor); without a space, only the physics columns every space shares."""
    if space is None:
        return list(FEATURE_NAMES)
    if space.stages:  # a staged vision space: per-stage columns (predictors.stage_features)
        from predictors import stage_features

        return stage_features.feature_names(space)
    return list(FEATURE_NAMES) + mixer_names(space) + table_names(space)


def _mixed_index(b: ArchBatch, space: SearchSpace, dims: list[str], per_layer: bool) -> tuple:
    """Mixed-radix index of each (arch[, layer])'s choices of ``dims``, and the radix product."""
    idx = np.zeros(b.active.shape if per_layer else (len(b),), np.int64)
    size = 1
    for d in dims:
        codes = b.codes[d]
        if per_layer and codes.ndim == 1:
            codes = np.broadcast_to(codes[:, None], b.active.shape)
        k = len(space.global_dims.get(d, space.layer_dims.get(d)))
        idx, size = idx * k + codes, size * k
    return idx, size


def table_features(space: SearchSpace, b: ArchBatch) -> np.ndarray:
    """(n, len(table_names(space))) counts of layer kinds (see the module docstring)."""
    width, attn, mlp = _table_keys(space)
    n = len(b)
    gi, gsize = _mixed_index(b, space, width, per_layer=False)
    cols = [np.eye(gsize)[gi]]
    rows = np.broadcast_to(np.arange(n)[:, None], b.active.shape)[b.active]
    for dims in (attn, mlp):
        if not dims:
            continue
        li, lsize = _mixed_index(b, space, width + dims, per_layer=True)
        counts = np.bincount(rows * lsize + li[b.active], minlength=n * lsize)
        cols.append(counts.reshape(n, lsize).astype(np.float64))
    return np.hstack(cols)


def features(
    space: SearchSpace,
    archs: ArchBatch | ArchConfig | Sequence[ArchConfig],
    *,
    batch_size: int = 1,
    seq_len: int | None = None,
) -> np.ndarray:
    """(n, len(feature_names(space))) float64 matrix: per-op-kind MACs, bytes, counts and
    widths, then the per-layer lookup-table counts."""
    geo = task_geometry(space)
    b = archs if isinstance(archs, ArchBatch) else to_batch(space, archs)
    if batch_size < 1:
        raise NasError(f"field 'batch_size': must be >= 1, got {batch_size}")
    if space.stages:  # a staged vision space: per-stage columns (predictors.stage_features)
        from predictors import stage_features

        return stage_features.features(space, b, batch_size=batch_size)
    T = float(seq_len if seq_len is not None else geo.tokens)
    B = float(batch_size)
    c = complexity(space, b, batch_size=batch_size, seq_len=seq_len)
    mix, masks = mixer_terms(space, b, batch_size=batch_size, seq_len=seq_len)
    H = _col(space, b, "num_heads")
    M = mlp_width(space, b)
    E = b.values["embed_dim"].astype(np.float64)
    hidden = 3.0 if geo.llama else 1.0  # SwiGLU: gate, up and their product
    f4 = 4.0  # float32 bytes
    depth = b.depth.astype(np.float64)
    out_width = float(geo.out_dim) * (1.0 if geo.pooled else T)
    none = np.zeros(b.active.shape, bool)

    def per_mixer(choices: list[mixers.Choice]) -> list[list[np.ndarray]]:
        """[MACs, bytes, layers, heads] columns of each mixer (zeros where the space lacks it)."""
        out = []
        for ch in choices:
            m = masks.get(ch, none)
            out.append(
                [
                    np.where(m, mix["mix_macs"], 0.0).sum(1),
                    f4 * np.where(m, mix["core"], 0.0).sum(1),
                    m.sum(1).astype(np.float64),
                    np.where(m, H, 0.0).sum(1),
                ]
            )
        return out

    fixed = per_mixer(_ALWAYS)
    cols = [
        c["macs_embed"],
        c["macs_attn_proj"],
        *[f[0] for f in fixed],
        c["macs_mlp"],
        c["macs_head"],
        f4 * c["params"],
        f4 * B * T * E * depth,
        f4 * B * T * mix["io"].sum(1),
        *[f[1] for f in fixed],
        f4 * B * T * hidden * (M * num_ffn(space, b)).sum(1),
        f4 * B * out_width * np.ones_like(depth),
        depth,
        *[f[2] for f in fixed],
        *[f[3] for f in fixed],
        E,
        M.sum(1),
        M.max(1) if M.shape[1] else np.zeros_like(depth),
        np.full_like(depth, T),
        np.full_like(depth, B),
    ]
    cols += [col for f in per_mixer(_extra_mixers(space)) for col in f]
    return np.hstack([np.stack(cols, axis=1), table_features(space, b)])
