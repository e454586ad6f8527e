"""Proxies read from the hidden states of one forward pass at initialization.

The hidden states are the residual stream entering each active layer's token mixer and MLP,
taken from the supernet's generic forward (the layer stack's workspace, see
:mod:`supernet.proxies.probe`), so they need no mixer's internals:

* ``naswot``: ``log|K|`` with ``K[i, j]`` the number of MLP units that examples i and j switch
  the same way (both on or both off; ``N_A - Hamming distance`` of their binary codes), the
  codes being the signs of the MLP's pre-activations (GELU / SwiGLU's gate) over every active
  layer, token and unit (Mellor et al., "Neural Architecture Search without Training", ICML
  2021).  Units outside the subnet's MLP width count for no one.
* ``hidden_covariance``: the Jacobian-covariance score (Mellor et al., v1) of the last active
  layer's hidden state (the residual stream entering its MLP), one row per example
  (Serianni & Kalita, "Training-free Neural Architecture Search for RNNs and Transformers",
  ACL 2023).
* ``head_confidence``: per head, the mean over examples and queries of the largest attention
  weight, summed over heads and layers (Voita et al., "Analyzing Multi-Head Self-Attention",
  ACL 2019; Serianni & Kalita 2023).
* ``head_softmax_confidence``: per layer, the mean over examples, queries and keys of the
  largest attention weight across the layer's heads (the attention softmax's output maximized
  over its head axis, as Serianni & Kalita's code does), summed over layers.

**Rule for layers without attention probabilities.** The two confidence proxies recompute the
attention weights from the layer's input and its ``qkv`` weights; they count the layers whose
mixer is softmax (dot-product) attention in the standard layout (``attn_type`` ``softmax``).
Other layers (linear attention, mixers without heads, Llama's rotary layers) are skipped and
contribute 0; a subnet with no such layer scores 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import mixers as specs
from supernet.proxies.probe import corr_score

SOFTMAX = (specs.default().key,)  # mixers (canonical keys) whose attention weights are a softmax of q k^T


def _norm(h, scale, bias, eps, rms: bool):
    if rms:
        return h * jax.lax.rsqrt(jnp.mean(h * h, -1, keepdims=True) + eps) * scale
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    return (h - mu) * jax.lax.rsqrt(var + eps) * scale + bias


def naswot(geo, params: dict, hidden, codes, E: int) -> jax.Array:
    lay, llama = params["layers"], geo.task.llama
    h = hidden[1]  # (L, B, T, E): inputs of the MLP sub-blocks
    widths = jnp.asarray((0, *(m for m, _ in geo.mlp_branches(E))))  # MLP code -> width
    M = widths[codes[:, 1]]  # (L,) active width (0 at inactive slots)
    ln = lay["ln2"]
    z = _norm(
        h, ln["scale"][:, None, None, :E], None if llama else ln["bias"][:, None, None, :E], geo.ln_eps, llama
    )
    w = lay["gate" if llama else "fc1"]
    u = jnp.einsum("lbte,lem->lbtm", z, w["kernel"][:, :E])
    if not llama:
        u = u + w["bias"][:, None, None, :]
    active = (jnp.arange(u.shape[-1])[None, :] < M[:, None]).astype(u.dtype)  # (L, Mmax)
    on = (u > 0).astype(u.dtype) * active[:, None, None, :]
    off = active[:, None, None, :] - on
    B = u.shape[1]
    on, off = on.transpose(1, 0, 2, 3).reshape(B, -1), off.transpose(1, 0, 2, 3).reshape(B, -1)
    K = on @ on.T + off @ off.T
    return jnp.linalg.slogdet(K)[1]


def hidden_covariance(geo, hidden, codes) -> jax.Array:
    last = jnp.sum(codes[:, 0] > 0) - 1
    h = jax.lax.dynamic_index_in_dim(hidden[1], last, keepdims=False)  # (B, T, E)
    return corr_score(h.reshape(h.shape[0], -1))


def _softmax_heads(geo, codes) -> tuple[jax.Array, jax.Array]:
    """(L, Hmax) mask of the heads of softmax-attention layers, (L,) mask of those layers."""
    branches = geo.attn_branches
    heads = np.array([0] + [h if a in SOFTMAX else 0 for h, a in branches], np.int32)
    n = jnp.asarray(heads)[codes[:, 0]]  # (L,)
    hmax = max(geo.head_choices)
    return (jnp.arange(hmax)[None, :] < n[:, None]).astype(jnp.float32), (n > 0).astype(jnp.float32)


def confidences(geo, params: dict, hidden, codes, E: int) -> dict[str, jax.Array]:
    """head_confidence and head_softmax_confidence (0 where the layout has no ``qkv``)."""
    lay = params["layers"]
    if geo.task.llama or "qkv" not in lay:
        return {"head_confidence": jnp.float32(0.0), "head_softmax_confidence": jnp.float32(0.0)}
    head_mask, layer_mask = _softmax_heads(geo, codes)
    hd, causal = geo.head_dim, geo.task.causal

    def one(args):
        h, ln_s, ln_b, k, b, hm = args  # one layer slot
        z = _norm(h, ln_s[:E], ln_b[:E], geo.ln_eps, False)
        qkv = jnp.einsum("bte,ejhd->btjhd", z, k[:E]) + b  # (B, T, 3, Hmax, hd)
        s = jnp.einsum("bthd,bshd->bhts", qkv[:, :, 0], qkv[:, :, 1]) / np.sqrt(hd)
        T = s.shape[-1]
        if causal:
            s = jnp.where(jnp.tril(jnp.ones((T, T), bool)), s, jnp.finfo(s.dtype).min)
        p = jax.nn.softmax(s, axis=-1)  # (B, Hmax, T, T)
        head = jnp.sum(p.max(-1).mean((0, 2)) * hm)
        soft = jnp.mean((p * hm[None, :, None, None]).max(1))
        return head, soft

    args = (
        hidden[0],
        lay["ln1"]["scale"],
        lay["ln1"]["bias"],
        lay["qkv"]["kernel"],
        lay["qkv"]["bias"],
        head_mask,
    )
    head, soft = jax.lax.map(one, args)
    return {
        "head_confidence": jnp.sum(head * layer_mask),
        "head_softmax_confidence": jnp.sum(soft * layer_mask),
    }
