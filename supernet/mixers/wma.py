"""Weighted multiplicative attention: per head ``softmax(q W k^T / sqrt(hd)) v`` (FlexiBERT, Tuli
et al., JAIR 2023).  Weights: the attention projections (:mod:`supernet.mixers.attention`,
shared with softmax attention) and ``wma`` (H, hd, hd), initialized to the identity so that a
fresh WMA layer starts as softmax attention; supernet ``wma`` (Hmax, hd, hd) sliced to ``[:H]``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet.mixers import attention
from supernet.mixers.api import MixerOps
from supernet.mixers.sdp import softmax_attention


def _eye(key, shape, dtype=jnp.float32):
    return jnp.broadcast_to(jnp.eye(shape[-1], dtype=dtype), shape)


def forward(
    ctx, h: jax.Array, keep: jax.Array | None, *, H: int, hd: int, causal: bool, opt: int = 0
) -> jax.Array:
    q, k, v = attention.project(ctx, h, H=H, hd=hd)
    w = ctx.param("wma", (H, hd, hd), _eye)
    q = jnp.einsum("bthd,hde->bthe", q, w)  # score = (q W) . k
    return attention.output(ctx, softmax_attention(q, k, v, causal=causal, keep=keep), h.shape[-1])


def stack(block: dict, *, E: int, H: int, hd: int, opt: int = 0) -> dict:
    return {**attention.stack(block, E=E, H=H, hd=hd), "wma": block["wma"]}


def slice(layer: dict, *, E: int, H: int, hd: int, opt: int = 0) -> dict:  # noqa: A001
    return {**attention.slice(layer, E=E, H=H, hd=hd), "wma": layer["wma"][:H]}


OPS = MixerOps(keys=(*attention.KEYS, "wma"), forward=forward, stack=stack, slice=slice)
