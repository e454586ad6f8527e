"""Parameter count, MACs/FLOPs per op kind and peak activation memory.

The formulas describe the transformer that ``supernet`` builds, from the
task-free geometry of :mod:`search_spaces.geometry` (patch or token-id input,
pooled or per-token output, tied or untied head).  With ``E`` the embedding
width, per active layer ``H`` heads of width ``hd`` (``A = H * hd``), MLP width
``M`` (``mlp_dim``, or ``mlp_ratio * E``), ``T`` tokens and batch ``B``:

* params: embedding (``P*E + E`` for patches of ``P`` pixels, ``V*E`` for
  token ids) + positions ``T*E`` + per layer ``2 LN (4E) + mixer + MLP (2EM + M + E
  + (n - 1)(M^2 + M))`` (``n`` = ``num_ffn`` stacked hidden layers, default 1) + final
  LN ``2E`` + head (``EC + C``; 0 when tied to the embedding).  The mixer's own terms
  come from its declaration in :mod:`search_spaces.mixers` (softmax attention: ``qkv
  (3EA + 3A) + out (AE + E)``).
* MACs (multiply-accumulates, FLOPs = 2 * MACs; norms, activations and softmax
  are not counted): ``embed = B T P E`` (patches) or 0 (lookup), ``attn_proj = B T
  (3EA + AE)`` (the mixer's projections), ``attn_scores`` its token mixing (``2 B T T
  A`` for softmax attention: QK^T and AV; ``2 B T A hd`` for linear attention,
  Katharopoulos et al., ICML 2020), ``mlp = 2 B T E M (+ (n - 1) B T M M)``, ``head =
  B E C`` (after pooling) or ``B T E V``.
* peak activation bytes (float32, inference): the largest over stages of the
  tensors alive together: the residual stream ``BTE`` plus, in the mixer, its
  projected inputs (``3BTA`` q/k/v) and its own intermediate (``BHTT`` softmax scores,
  ``BT A hd`` running key-value states of linear attention), and in the MLP ``BTM``
  (``2BTM`` with stacked hidden layers).

* KV cache bytes (float32) at context ``T`` (``seq_len``, default the task's): the
  mixer's decoding state, ``2 B T K hd`` per softmax layer (keys and values of its ``K``
  KV heads), ``B H hd (hd + 1)`` per linear-attention layer (its running sums, whatever
  T); also as ``kv_cache_mb`` (MiB), a free objective a search can constrain.

With ``task.block: llama`` (:mod:`supernet.llama`) a layer has ``K`` KV heads
(``num_kv_heads``, default ``H``), no biases, RMSNorm and a SwiGLU MLP: per layer
``2E (norms) + EA (q) + 2EK hd (k, v) + AE (o) + 3EM (gate, up, down)``; no
position table; final norm ``E``; untied head ``EV``.  MACs: ``attn_proj = B T
(2EA + 2EK hd)``, ``mlp = 3 B T E M``.

Everything is vectorized over an :class:`~search_spaces.batch.ArchBatch`, so
100k architectures are scored in milliseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from search_spaces import mixers
from search_spaces.arch import ArchConfig
from search_spaces.batch import ArchBatch, to_batch
from search_spaces.errors import NasError
from search_spaces.geometry import TaskGeometry, task_geometry

if TYPE_CHECKING:
    from search_spaces.space import SearchSpace

KINDS = ("embed", "attn_proj", "attn_scores", "mlp", "head")
MIB = float(1 << 20)
TERMS = ("params", "proj_macs", "mix_macs", "io", "core", "state", "saved")


def _col(space: SearchSpace, b: ArchBatch, name: str) -> np.ndarray:
    """Per-layer column (n, L) of a dim, broadcasting a global dim over layers."""
    v = b.values[name]
    return np.where(b.active, v[:, None], 0.0) if v.ndim == 1 else v


def mlp_width(space: SearchSpace, b: ArchBatch) -> np.ndarray:
    """(n, L) MLP hidden widths: ``mlp_dim``, or ``mlp_ratio`` times ``embed_dim`` (0 when inactive)."""
    if "mlp_dim" in b.values:
        return _col(space, b, "mlp_dim")
    E = b.values["embed_dim"].astype(np.float64)
    return np.floor(_col(space, b, "mlp_ratio") * E[:, None] + 1e-9)


def num_ffn(space: SearchSpace, b: ArchBatch) -> np.ndarray:
    """(n, L) stacked FFN hidden layers per layer (``num_ffn``, default 1; 0 when inactive)."""
    if "num_ffn" in b.values:
        return _col(space, b, "num_ffn")
    return b.active.astype(np.float64)


def kv_heads(space: SearchSpace, b: ArchBatch) -> np.ndarray:
    """(n, L) KV heads per layer: ``num_kv_heads``, else as many as query heads (0 when inactive)."""
    if "num_kv_heads" in b.values:
        return _col(space, b, "num_kv_heads")
    return _col(space, b, "num_heads")


def _seq_len(geo: TaskGeometry, seq_len: int | None) -> float:
    if seq_len is None:
        return float(geo.tokens)
    if not geo.lookup and seq_len != geo.tokens:
        raise NasError(f"field 'seq_len': an image space has a fixed {geo.tokens} tokens, got {seq_len!r}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise NasError(f"field 'seq_len': must be an integer >= 1, got {seq_len!r}")
    return float(seq_len)


def mixer_masks(space: SearchSpace, b: ArchBatch) -> dict[mixers.Choice, np.ndarray]:
    """Each mixer choice of the space (by canonical key) -> (n, L) bool: the active layers using it."""
    dim = mixers.mixer_dim(space)
    if dim is None:
        return {mixers.default(): b.active.copy()}
    codes = b.codes[dim]
    codes = codes[:, None] if codes.ndim == 1 else codes
    out: dict[mixers.Choice, np.ndarray] = {}
    for i, c in enumerate(mixers.choices_of(space)):
        out[c] = out.get(c, np.zeros_like(b.active)) | ((codes == i) & b.active)
    return out


def mixer_terms(
    space: SearchSpace, b: ArchBatch, *, batch_size: int = 1, seq_len: int | None = None
) -> tuple[dict[str, np.ndarray], dict[mixers.Choice, np.ndarray]]:
    """Per-layer (n, L) sums of each mixer formula (:data:`TERMS`, 0 when inactive) and the masks
    of :func:`mixer_masks`: every layer evaluated with its own mixer's declaration."""
    geo = task_geometry(space)
    masks = mixer_masks(space, b)
    E = b.values["embed_dim"].astype(np.float64)
    El = np.where(b.active, E[:, None], 0.0)
    H, K = _col(space, b, "num_heads"), kv_heads(space, b)
    T = _seq_len(geo, seq_len)
    terms = {t: np.zeros(b.active.shape) for t in TERMS}
    for c, m in masks.items():
        d = mixers.Dims(B=float(batch_size), T=T, E=El, H=H, hd=float(geo.head_dim), K=K, opt=c.opt)
        s = c.spec
        for t, f in zip(
            TERMS, (s.params, s.proj_macs, s.mix_macs, s.io, s.core, s.state, s.saved), strict=True
        ):
            terms[t] = np.where(m, f(d), terms[t])
    return terms, masks


def complexity(
    space: SearchSpace,
    archs: ArchBatch | ArchConfig | Sequence[ArchConfig],
    *,
    batch_size: int = 1,
    seq_len: int | None = None,
) -> dict[str, np.ndarray]:
    """Complexity of each architecture.

    Returns float64 arrays of shape (n,): ``params``, ``macs_<kind>`` for kind in
    :data:`KINDS`, ``macs``, ``flops`` and ``act_bytes``.  ``seq_len`` overrides
    the task's token count (language models at shorter context).
    """
    geo = task_geometry(space)
    b = archs if isinstance(archs, ArchBatch) else to_batch(space, archs)
    if getattr(space, "stages", ()):  # a staged vision space: per-stage formulas
        from search_spaces import stage_complexity

        _seq_len(geo, seq_len)
        return stage_complexity.complexity(space, b, batch_size=batch_size)
    T_max = float(geo.tokens)
    T = _seq_len(geo, seq_len)
    B, hd, P, C = float(batch_size), float(geo.head_dim), float(geo.in_dim), float(geo.out_dim)
    E = b.values["embed_dim"].astype(np.float64)
    if E.ndim == 2:
        raise NasError("dimension 'embed_dim' must be global for complexity")
    El = np.where(b.active, E[:, None], 0.0)
    H = _col(space, b, "num_heads")
    A = H * hd
    M = mlp_width(space, b)
    N = num_ffn(space, b)
    mix, _ = mixer_terms(space, b, batch_size=batch_size, seq_len=seq_len)

    K = kv_heads(space, b)
    if geo.llama:
        layer_params = 2 * El + 2 * El * A + 2 * El * K * hd + 3 * El * M
        head_params = 0.0 if geo.tied_head else E * C
        params = P * E + layer_params.sum(1) + E + head_params
    else:
        layer_params = 4 * El + mix["params"] + 2 * El * M + M + El + (N - 1).clip(0) * (M * M + M)
        embed_params = P * E if geo.lookup else P * E + E
        head_params = 0.0 if geo.tied_head else E * C + C
        params = embed_params + T_max * E + layer_params.sum(1) + 2 * E + head_params
    per_token = not geo.pooled

    per_layer = layer_macs(space, b, batch_size=batch_size, seq_len=seq_len)
    macs = {
        "embed": np.zeros_like(E) if geo.lookup else B * T * P * E,
        "attn_proj": per_layer["attn_proj"].sum(1),
        "attn_scores": per_layer["attn_scores"].sum(1),
        "mlp": per_layer["mlp"].sum(1),
        "head": B * T * E * C if per_token else B * E * C,
    }
    out = {"params": params}
    out.update({f"macs_{k}": v for k, v in macs.items()})
    out["macs"] = sum(macs.values())
    out["flops"] = 2 * out["macs"]

    resid = B * T * El
    attn_live = resid + B * T * mix["io"] + mix["core"]
    hidden = np.where(N > 1, 2.0, 1.0)  # stacked hidden layers: two M-wide tensors alive
    mlp_live = resid + B * T * M * (2 if geo.llama else hidden)
    layer_peak = np.maximum(attn_live, mlp_live).max(1) if b.active.shape[1] else np.zeros_like(E)
    embed_live = B * T * (1.0 if geo.lookup else P) + B * T * E
    head_live = B * T * E + (B * T * C if per_token else B * C)
    out["act_bytes"] = 4.0 * np.maximum(np.maximum(layer_peak, embed_live), head_live)
    out["kv_cache_bytes"] = 4.0 * np.where(b.active, mix["state"], 0.0).sum(1)
    out["kv_cache_mb"] = out["kv_cache_bytes"] / MIB
    return out


def layer_macs(
    space: SearchSpace, b: ArchBatch, *, batch_size: int = 1, seq_len: int | None = None
) -> dict[str, np.ndarray]:
    """Per-layer MACs ``attn_proj``, ``attn_scores``, ``mlp`` as (n, max_depth) arrays (0 when inactive).

    ``attn_proj`` and ``attn_scores`` are each layer's mixer's projections and token mixing
    (:mod:`search_spaces.mixers`).  The same formulas as :func:`complexity` (which sums
    these over layers).
    """
    geo = task_geometry(space)
    B, hd = float(batch_size), float(geo.head_dim)
    T = _seq_len(geo, seq_len)
    E = b.values["embed_dim"].astype(np.float64)
    if E.ndim == 2:
        raise NasError("dimension 'embed_dim' must be global for complexity")
    El = np.where(b.active, E[:, None], 0.0)
    A = _col(space, b, "num_heads") * hd
    M = mlp_width(space, b)
    N = num_ffn(space, b)
    mix, _ = mixer_terms(space, b, batch_size=batch_size, seq_len=seq_len)
    Khd = kv_heads(space, b) * hd
    return {
        "attn_proj": B * T * (2 * El * A + 2 * El * Khd) if geo.llama else mix["proj_macs"],
        "attn_scores": mix["mix_macs"],
        "mlp": (3 if geo.llama else 2) * B * T * El * M + (N - 1).clip(0) * B * T * M * M,
    }


def params(space: SearchSpace, arch: ArchConfig) -> int:
    """Exact parameter count of one architecture."""
    return int(complexity(space, [arch])["params"][0])


def flops(space: SearchSpace, arch: ArchConfig, *, batch_size: int = 1, seq_len: int | None = None) -> int:
    """FLOPs (2 x MACs) of one forward pass."""
    return int(complexity(space, [arch], batch_size=batch_size, seq_len=seq_len)["flops"][0])


def training_memory(
    space: SearchSpace,
    archs: ArchBatch | ArchConfig | Sequence[ArchConfig],
    *,
    batch_size: int,
    seq_len: int | None = None,
    precision: str = "f32",
) -> dict[str, np.ndarray]:
    """Estimated bytes of one training step with AdamW (an estimate, not a measurement).

    ``state_bytes = 16 * params`` (weights, gradients and AdamW's two moments) and
    ``act_bytes`` the activations kept for the backward pass: per active layer
    ``B T (4E + 2nM)`` floats (residual, two LayerNorm outputs, the MLP's ``n`` hidden
    layers before and after GELU; Llama: ``B T (4E + 2K hd + 3M)``, its gate, up and their
    product) plus what the mixer keeps (softmax attention: q/k/v and its output ``4 B T A``
    and ``2 B H T^2`` scores and probabilities; linear attention: ``B T A hd`` running sums
    instead of the scores); plus the input embedding and the logits and their gradient
    (``2 B T C`` per token, ``2 B C`` pooled).  ``total_bytes`` is their sum.

    ``precision="bf16"`` (the trainer's mixed precision): the float32 state plus a bfloat16 copy
    of the weights (``18 * params``), activations of 2 bytes, the logits and their gradient float32.
    """
    if precision not in ("f32", "bf16"):
        raise NasError(f"field 'precision': expected 'f32' or 'bf16', got {precision!r}")
    geo = task_geometry(space)
    b = archs if isinstance(archs, ArchBatch) else to_batch(space, archs)
    if getattr(space, "stages", ()):  # a staged vision space: per-stage formulas
        from search_spaces import stage_complexity

        _seq_len(geo, seq_len)
        return stage_complexity.training_memory(space, b, batch_size=batch_size)
    B, T, hd = float(batch_size), _seq_len(geo, seq_len), float(geo.head_dim)
    E = b.values["embed_dim"].astype(np.float64)
    El = np.where(b.active, E[:, None], 0.0)
    H = _col(space, b, "num_heads")
    A, M = H * hd, mlp_width(space, b)
    mix, _ = mixer_terms(space, b, batch_size=batch_size, seq_len=seq_len)
    if geo.llama:  # q, k, v (K heads), attention output; gate, up and their SwiGLU product
        per_token = 4 * El + 2 * A + 2 * kv_heads(space, b) * hd + 3 * M
        attn = mix["saved"] - B * T * 4 * A
    else:
        per_token = 4 * El + 2 * M * num_ffn(space, b)
        attn = mix["saved"]
    layers = (B * T * per_token + np.where(b.active, attn, 0.0)).sum(1)
    logits = 2 * B * geo.out_dim * (1.0 if geo.pooled else T)
    act_size = 2.0 if precision == "bf16" else 4.0
    act = act_size * (layers + B * T * E) + 4.0 * logits
    state = (18.0 if precision == "bf16" else 16.0) * complexity(space, b)["params"]
    return {"state_bytes": state, "act_bytes": act, "total_bytes": state + act}
