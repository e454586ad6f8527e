"""Span-based dynamic convolution (ConvBERT, Jiang et al., NeurIPS 2020); the option is the
kernel size (``dsc5``, ``dsc9``).

Per head (``q``, ``k``, ``v`` from the attention projections of
:mod:`supernet.mixers.attention`): the span-aware key ``ks = k * w_dw + b_dw`` (a depthwise
convolution over ``K`` tokens), the per-position kernel ``softmax((q * ks) W_g + b_g)`` over
``K`` taps, and the output ``sum_j kernel[t, j] v[t + j - p]`` with ``p = (K - 1) / 2``
(centred) or ``K - 1`` (causal: left padding, the window ends at the token).  Padding tokens
(``keep`` False) give zero keys and values.

Weights beyond the attention's: ``dsc_dw`` (K, H, hd), ``dsc_db`` (H, hd), ``dsc_gen`` (H, hd,
K), ``dsc_gb`` (H, K); the supernet holds them at the largest kernel and heads, and a subnet
takes the leading ``K`` taps and ``H`` heads.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet.mixers import attention
from supernet.mixers.api import MixerOps

KEYS = ("dsc_dw", "dsc_db", "dsc_gen", "dsc_gb")


def windows(x: jax.Array, K: int, *, causal: bool) -> jax.Array:
    """(B, T, ...) -> (B, T, K, ...): the K tokens of each position's window (zeros outside)."""
    T = x.shape[1]
    left = K - 1 if causal else (K - 1) // 2
    pad = [(0, 0), (left, K - 1 - left)] + [(0, 0)] * (x.ndim - 2)
    xp = jnp.pad(x, pad)
    return jnp.stack([xp[:, j : j + T] for j in range(K)], axis=2)


def forward(
    ctx, h: jax.Array, keep: jax.Array | None, *, H: int, hd: int, causal: bool, opt: int = 9
) -> jax.Array:
    K = opt
    q, k, v = attention.project(ctx, h, H=H, hd=hd)  # (B,T,H,hd)
    if keep is not None:
        k, v = (a * keep[:, :, None, None].astype(a.dtype) for a in (k, v))
    init = jax.nn.initializers.normal(0.02)
    dw = ctx.param("dsc_dw", (K, H, hd), init)
    ks = jnp.einsum("btjhd,jhd->bthd", windows(k, K, causal=causal), dw) + ctx.param("dsc_db", (H, hd), init)
    logits = jnp.einsum("bthd,hdj->bthj", q * ks, ctx.param("dsc_gen", (H, hd, K), init))
    kernel = jax.nn.softmax(logits + ctx.param("dsc_gb", (H, K), init), axis=-1)  # (B,T,H,K)
    out = jnp.einsum("bthj,btjhd->bthd", kernel, windows(v, K, causal=causal))
    return attention.output(ctx, out, h.shape[-1])


def stack(block: dict, *, E: int, H: int, hd: int, opt: int = 0) -> dict:
    return {**attention.stack(block, E=E, H=H, hd=hd), **{k: block[k] for k in KEYS}}


def slice(layer: dict, *, E: int, H: int, hd: int, opt: int = 9) -> dict:  # noqa: A001
    out = attention.slice(layer, E=E, H=H, hd=hd)
    out["dsc_dw"] = layer["dsc_dw"][:opt, :H]
    out["dsc_db"] = layer["dsc_db"][:H]
    out["dsc_gen"] = layer["dsc_gen"][:H, :, :opt]
    out["dsc_gb"] = layer["dsc_gb"][:H, :opt]
    return out


OPS = MixerOps(keys=(*attention.KEYS, *KEYS), forward=forward, stack=stack, slice=slice)
