"""Latency features of architectures, from the full per-layer architecture.

Roofline-style sums (Williams et al., "Roofline", CACM 2009): the time of a
kernel is bounded by its arithmetic (MACs) and by the bytes it moves, plus a
per-op launch cost, and different op kinds run at different rates on a device
(nn-Meter, Zhang et al., MobiSys 2021, predicts per kernel for this reason).  So
the features are MACs and bytes *per op kind* summed over the actual layers
(softmax vs linear attention separately), op counts (layers of each kind,
heads) and the widths themselves.  Everything is vectorized over
:class:`~search_spaces.ArchBatch`.  The MACs come from
:func:`search_spaces.complexity.layer_macs`, the same formulas as ``complexity``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from search_spaces import ArchBatch, ArchConfig, NasError, SearchSpace, complexity, to_batch
from search_spaces.complexity import _col, layer_macs, task_geometry

FEATURE_VERSION = 1

FEATURE_NAMES = (
    "macs_embed",
    "macs_attn_proj",
    "macs_scores_softmax",
    "macs_scores_linear",
    "macs_mlp",
    "macs_head",
    "bytes_weights",
    "bytes_residual",
    "bytes_qkv",
    "bytes_scores_softmax",
    "bytes_state_linear",
    "bytes_mlp_hidden",
    "bytes_head_out",
    "depth",
    "layers_softmax",
    "layers_linear",
    "heads_softmax",
    "heads_linear",
    "embed_dim",
    "mlp_dim_sum",
    "mlp_dim_max",
    "seq_len",
    "batch_size",
)


def feature_names() -> list[str]:
    """Column names of :func:`features` (the feature definition stored with a predictor)."""
    return list(FEATURE_NAMES)


def features(
    space: SearchSpace,
    archs: ArchBatch | ArchConfig | Sequence[ArchConfig],
    *,
    batch_size: int = 1,
    seq_len: int | None = None,
) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) float64 matrix of per-op-kind MACs, bytes, counts and widths."""
    geo = task_geometry(space)
    b = archs if isinstance(archs, ArchBatch) else to_batch(space, archs)
    if batch_size < 1:
        raise NasError(f"field 'batch_size': must be >= 1, got {batch_size}")
    T = float(seq_len if seq_len is not None else geo["tokens"])
    B, hd = float(batch_size), float(geo["head_dim"])
    c = complexity(space, b, batch_size=batch_size, seq_len=seq_len)
    lm = layer_macs(space, b, batch_size=batch_size, seq_len=seq_len)
    lin = lm["linear"]
    soft = b.active & ~lin
    H = _col(space, b, "num_heads")
    M = _col(space, b, "mlp_dim")
    E = b.values["embed_dim"].astype(np.float64)
    A = H * hd
    f4 = 4.0  # float32 bytes
    depth = b.depth.astype(np.float64)
    out_width = float(geo["out_dim"]) * (T if geo["lm"] else 1.0)
    cols = [
        c["macs_embed"],
        c["macs_attn_proj"],
        np.where(soft, lm["attn_scores"], 0.0).sum(1),
        np.where(lin, lm["attn_scores"], 0.0).sum(1),
        c["macs_mlp"],
        c["macs_head"],
        f4 * c["params"],
        f4 * B * T * E * depth,
        f4 * 3 * B * T * A.sum(1),
        f4 * B * T * T * np.where(soft, H, 0.0).sum(1),
        f4 * B * T * hd * np.where(lin, A, 0.0).sum(1),
        f4 * B * T * M.sum(1),
        f4 * B * out_width * np.ones_like(depth),
        depth,
        soft.sum(1).astype(np.float64),
        lin.sum(1).astype(np.float64),
        np.where(soft, H, 0.0).sum(1),
        np.where(lin, H, 0.0).sum(1),
        E,
        M.sum(1),
        M.max(1) if M.shape[1] else np.zeros_like(depth),
        np.full_like(depth, T),
        np.full_like(depth, B),
    ]
    return np.stack(cols, axis=1)
