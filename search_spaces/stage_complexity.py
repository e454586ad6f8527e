"""Parameters, MACs and activation bytes of staged vision models, per stage.

The formulas count :class:`supernet.staged_standalone.StagedViT` exactly (parameters are
tested equal to the Flax tree).  With ``B`` the batch, stage ``s`` at width ``E`` on ``T``
tokens (``Tk = window^2`` keys per query in a windowed stage, else ``T``), ``hd`` the head
width, per active layer ``A = H hd`` and MLP width ``M``, or for MBConv ``N = floor(E r)``
hidden channels and a ``k x k`` kernel; ``P`` pixels per patch, ``C`` classes:

* embedding ``P E0 + E0`` + positions ``T0 E0``; MACs ``embed = B T0 P E0``;
* transformer layer: params ``4E + mixer + 2EM + M + E`` (as the flat model), MACs
  ``attn_proj`` and ``attn_scores`` the layer's mixer's own formulas (:mod:`search_spaces.mixers`)
  on ``B T / Tk`` sequences of ``Tk`` tokens (sdp attention, the default: params ``3EA + 3A + AE
  + E``, ``attn_proj = 4 B T E A``, ``attn_scores = 2 B T Tk A``), ``mlp = 2 B T E M``;
* MBConv layer: params ``2E + EN + N + k^2 N + N + NE + E``; MACs ``conv = B T (2EN + k^2 N)``;
* reduction into width ``F`` (``T' = T / 4``): ``strided_conv`` and
  ``residual_spatial_reduction`` params ``2E + 4EF + F``, MACs ``reduce = 4 B T' E F``;
  ``q_pooling`` params ``2E + 4(EF + F) + F^2 + F``, MACs ``reduce = B (2 T' E F + 2 T E F +
  T' F^2)`` and ``attn_scores += 2 B T' T F``;
* final LayerNorm ``2E`` and head ``EC + C``; MACs ``head = B E C``.

Peak activation bytes (float32, inference) of stage ``s`` (``act_bytes_s<s>``): the largest
over its layers and its reduction of the tensors alive together: residual ``BTE`` plus
the mixer's inputs and intermediate (sdp: ``3BTA + B H T Tk``), ``BTM`` in the MLP, ``2BTN`` in MBConv, and in the
reduction its input plus output ``B T' F`` (q_pooling: plus keys/values ``2BTF`` and scores
``B (F/hd) T' T``).  ``act_bytes`` is the largest over stages, the embedding and the head.
Everything is vectorized over an :class:`~search_spaces.batch.ArchBatch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from search_spaces import mixers
from search_spaces.batch import ArchBatch
from search_spaces.geometry import geometry_of_task
from search_spaces.stages import Stage, hidden_width

if TYPE_CHECKING:
    from search_spaces.space import SearchSpace

KINDS = ("embed", "attn_proj", "attn_scores", "mlp", "conv", "reduce", "head")


def stage_terms(space: SearchSpace, b: ArchBatch, *, batch_size: int = 1) -> list[dict[str, np.ndarray]]:
    """Per stage: (n,) arrays ``params``, ``macs_<kind>``, ``act`` (floats alive at the peak),
    ``layers``, ``width``, ``tokens`` and the per-slot ``active`` (n, slots) mask."""
    geo = geometry_of_task(space.task)
    B, hd = float(batch_size), float(geo.head_dim)
    n = len(b)
    out = []
    for s, st in enumerate(space.stages):
        v = b.values
        E = v[f"s{s}_embed_dim"].astype(np.float64)
        d = v[f"s{s}_depth"].astype(np.int64)
        T = float(st.grid[0] * st.grid[1])
        Tk = float(st.window**2) if st.window else T
        z = np.zeros(n)
        t = {f"macs_{k}": z.copy() for k in KINDS}
        params, act = z.copy(), B * T * E
        active = np.stack([d > j for j in range(st.max_depth)], axis=1)
        for j in range(st.max_depth):
            on = active[:, j]
            if st.block == "transformer":
                H = v[f"s{s}_num_heads_{j}"].astype(np.float64)
                M = v[f"s{s}_mlp_dim_{j}"].astype(np.float64)
                mix = _mixer_terms(st, b, s, j, mixers.Dims(B=B * T / Tk, T=Tk, E=E, H=H, hd=hd, K=H, opt=0))
                p = 4 * E + mix["params"] + 2 * E * M + M + E
                t["macs_attn_proj"] += np.where(on, mix["proj"], 0.0)
                t["macs_attn_scores"] += np.where(on, mix["mix"], 0.0)
                t["macs_mlp"] += np.where(on, 2 * B * T * E * M, 0.0)
                live = B * T * E + np.maximum(B * T * mix["io"] + mix["core"], B * T * M)
            else:
                k2 = v[f"s{s}_kernel_size_{j}"].astype(np.float64) ** 2
                r = v[f"s{s}_expand_ratio_{j}"]
                N = np.array([hidden_width(int(e), float(x)) for e, x in zip(E, r, strict=True)], np.float64)
                p = 2 * E + E * N + N + k2 * N + N + N * E + E
                t["macs_conv"] += np.where(on, B * T * (2 * E * N + k2 * N), 0.0)
                live = B * T * E + 2 * B * T * N
            params += np.where(on, p, 0.0)
            act = np.maximum(act, np.where(on, live, 0.0))
        if st.reduction:
            F = v[f"s{s + 1}_embed_dim"].astype(np.float64)
            T2 = T / 4
            if st.reduction == "q_pooling":
                params += 2 * E + 4 * (E * F + F) + F * F + F
                t["macs_reduce"] += B * (2 * T2 * E * F + 2 * T * E * F + T2 * F * F)
                t["macs_attn_scores"] += 2 * B * T2 * T * F
                act = np.maximum(act, B * T * E + B * T2 * F + 2 * B * T * F + B * (F / hd) * T2 * T)
            else:
                params += 2 * E + 4 * E * F + F
                t["macs_reduce"] += 4 * B * T2 * E * F
                act = np.maximum(act, B * T * E + B * T2 * F)
        t.update(params=params, act=act, layers=d.astype(np.float64), width=E, tokens=np.full(n, T))
        t["active"] = active
        out.append(t)
    return out


def _mixer_terms(st: Stage, b: ArchBatch, s: int, j: int, d: mixers.Dims) -> dict[str, np.ndarray]:
    """Layer ``j`` of stage ``s``: its mixer's own formulas (:mod:`search_spaces.mixers`) on the
    stage's shapes ``d`` (a windowed stage: ``B nW`` sequences of ``window^2`` tokens), each
    architecture with its own mixer (sdp attention when the stage declares none)."""
    choices = dict(st.layer_choices).get("mixer", (mixers.default().key,))
    code = b.codes.get(f"s{s}_mixer_{j}", np.zeros(len(b), np.int64))
    out = {k: np.zeros(len(b)) for k in ("params", "proj", "mix", "io", "core")}
    for i, raw in enumerate(choices):
        c = mixers.get(raw)
        dc, sp = d._replace(opt=c.opt), c.spec
        for k, f in zip(out, (sp.params, sp.proj_macs, sp.mix_macs, sp.io, sp.core), strict=True):
            out[k] = np.where(code == i, f(dc) + 0.0 * d.E, out[k])
    return out


def complexity(space: SearchSpace, b: ArchBatch, *, batch_size: int = 1) -> dict[str, np.ndarray]:
    """:func:`search_spaces.complexity.complexity` of a staged space: totals, ``macs_<kind>`` for
    kind in :data:`KINDS`, and per stage ``params_s<i>``, ``macs_s<i>``, ``act_bytes_s<i>``."""
    geo = geometry_of_task(space.task)
    B, P, C = float(batch_size), float(geo.in_dim), float(geo.out_dim)
    terms = stage_terms(space, b, batch_size=batch_size)
    E0, EL = terms[0]["width"], terms[-1]["width"]
    T0 = terms[0]["tokens"]
    out = {"params": P * E0 + E0 + T0 * E0 + 2 * EL + EL * C + C}
    macs = {k: sum(t[f"macs_{k}"] for t in terms) for k in KINDS}
    macs["embed"] = macs["embed"] + B * T0 * P * E0
    macs["head"] = macs["head"] + B * EL * C
    for i, t in enumerate(terms):
        out["params"] = out["params"] + t["params"]
        out[f"params_s{i}"] = t["params"]
        out[f"macs_s{i}"] = sum(t[f"macs_{k}"] for k in KINDS)
        out[f"act_bytes_s{i}"] = 4.0 * t["act"]
    out.update({f"macs_{k}": v for k, v in macs.items()})
    out["macs"] = sum(macs.values())
    out["flops"] = 2 * out["macs"]
    peak = np.maximum(B * T0 * (P + E0), B * EL * (1 + C))
    out["act_bytes"] = 4.0 * np.maximum(peak, np.max([t["act"] for t in terms], axis=0))
    out["kv_cache_bytes"] = np.zeros(len(b))  # a classifier keeps no cache
    out["kv_cache_mb"] = np.zeros(len(b))
    return out


def training_memory(space: SearchSpace, b: ArchBatch, *, batch_size: int) -> dict[str, np.ndarray]:
    """Estimated training bytes (AdamW state ``16 * params``; activations ~ the stages' peaks
    times their active layers, an estimate, not a measurement)."""
    c = complexity(space, b, batch_size=batch_size)
    terms = stage_terms(space, b, batch_size=batch_size)
    act = 4.0 * sum(t["act"] * np.maximum(t["layers"], 1.0) * 2 for t in terms)
    state = 16.0 * c["params"]
    return {"state_bytes": state, "act_bytes": act, "total_bytes": state + act}
