"""Scaled dot-product self-attention, ``softmax(q k^T / sqrt(hd)) v`` per head (Vaswani et al.,
"Attention Is All You Need", NeurIPS 2017); causal with the lower-triangular mask.  Weights:
:mod:`supernet.mixers.attention` (shared with the other attention mixers)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet.mixers import attention


def softmax_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool, keep: jax.Array | None = None
) -> jax.Array:
    """q, k, v: (B, T, H, hd) -> (B, T, H, hd); ``keep`` (B, T) bool: keys to attend to (None: all)."""
    scores = jnp.einsum("bthd,bshd->bhts", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)  # (B,H,T,T)
    if causal:
        T = q.shape[1]
        scores = jnp.where(jnp.tril(jnp.ones((T, T), dtype=bool)), scores, jnp.finfo(scores.dtype).min)
    if keep is not None:  # padding keys get no weight (an all-padding row attends uniformly, stays finite)
        scores = jnp.where(keep[:, None, None, :], scores, jnp.finfo(scores.dtype).min)
    probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(v.dtype)  # float32 statistics
    return jnp.einsum("bhts,bshd->bthd", probs, v)


OPS = attention.mixer(softmax_attention)
