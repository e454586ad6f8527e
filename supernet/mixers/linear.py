"""Kernelized linear attention with the ``elu + 1`` feature map (Katharopoulos et al.,
"Transformers are RNNs", ICML 2020), whose causal form keeps running key-value sums.
Weights: :mod:`supernet.mixers.attention` (shared with softmax attention)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet.mixers import attention


def feature_map(x: jax.Array) -> jax.Array:
    """phi(x) = elu(x) + 1 > 0 (Katharopoulos et al., 2020)."""
    return jax.nn.elu(x) + 1.0


def linear_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    causal: bool,
    keep: jax.Array | None = None,
    eps: float = 1e-6,
    chunk: int = 64,
) -> jax.Array:
    """Kernelized attention (Katharopoulos et al., ICML 2020). q, k, v: (B, T, H, hd) -> (B, T, H, hd).

    ``keep`` (B, T) bool: keys to attend to (None: all); a dropped key's phi(k) is zero, so it
    adds nothing to the key-value sums nor to the normalizer.

    The causal form is computed in chunks of ``chunk`` positions (the chunkwise form of
    Katharopoulos et al. / Yang et al., "Gated Linear Attention", ICML 2024): within a chunk
    the masked quadratic form ``(phi(q) phi(k)^T * tril) v``, across chunks the running
    key-value sums of the earlier chunks only.  The same function as a running sum at every
    position, but it never holds a (B, T, H, hd, hd) tensor: at 128 tokens and 8 heads of 32
    that running sum made a forward-backward pass 27x slower (243 vs 9 ms on one core).
    """
    return kernel_attention(feature_map(q), feature_map(k), v, causal=causal, keep=keep, eps=eps, chunk=chunk)


def kernel_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    causal: bool,
    keep: jax.Array | None = None,
    eps: float = 1e-6,
    chunk: int = 64,
) -> jax.Array:
    """:func:`linear_attention` on features already mapped (non-negative): q, k (B, T, H, f), v
    (B, T, H, hd) -> (B, T, H, hd); also EcoFormer's binary codes (:mod:`supernet.mixers.ecoformer`)."""
    if keep is not None:
        k = k * keep[:, :, None, None].astype(k.dtype)
    if not causal:
        kv = jnp.einsum("bthd,bthe->bhde", k, v)  # (B,H,hd,hd)
        num = jnp.einsum("bthd,bhde->bthe", q, kv)
        den = jnp.einsum("bthd,bhd->bth", q, k.sum(axis=1))
        return num / (den[..., None] + eps)
    B, T, H, _ = q.shape
    C = min(T, chunk)
    n = -(-T // C)
    if n * C > T:  # padded positions come last: no real query sees them
        q, k, v = (jnp.pad(a, ((0, 0), (0, n * C - T), (0, 0), (0, 0))) for a in (q, k, v))
    qc, kc, vc = (a.reshape(B, n, C, H, a.shape[-1]) for a in (q, k, v))
    s = jnp.einsum("bnthd,bnshd->bnhts", qc, kc) * jnp.tril(jnp.ones((C, C), q.dtype))
    num = jnp.einsum("bnhts,bnshe->bnthe", s, vc)
    den = s.sum(-1).transpose(0, 1, 3, 2)  # (B,n,C,H)
    if n > 1:  # the key-value and key sums of the chunks before each chunk
        kv = jnp.cumsum(jnp.einsum("bnshd,bnshe->bnhde", kc, vc), axis=1)
        ks = jnp.cumsum(kc.sum(axis=2), axis=1)
        kv = jnp.concatenate([jnp.zeros_like(kv[:, :1]), kv[:, :-1]], axis=1)
        ks = jnp.concatenate([jnp.zeros_like(ks[:, :1]), ks[:, :-1]], axis=1)
        num = num + jnp.einsum("bnthd,bnhde->bnthe", qc, kv)
        den = den + jnp.einsum("bnthd,bnhd->bnth", qc, ks)
    out = num / (den[..., None] + eps)
    return out.reshape(B, n * C, H, out.shape[-1])[:, :T]


OPS = attention.mixer(linear_attention)
