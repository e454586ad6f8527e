"""EcoFormer's binary attention (Liu et al., NeurIPS 2022); the option is the bit count.

Per head, queries and keys are hashed to ``b`` bits, ``c = sign(x W_h)`` (``W_h``: ``eco_hash``
(H, hd, b); the gradient passes through ``tanh(x W_h)``, a straight-through estimator), and
attention is linear attention (:func:`supernet.mixers.linear.kernel_attention`, causal or
not) on the binary features ``phi(c) = [(1 + c) / 2, (1 - c) / 2]``, whose inner product
counts the bits two codes share.  Supernet ``eco_hash`` (Hmax, hd, bmax) sliced to ``[:H, :,
:b]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet.mixers import attention
from supernet.mixers.api import MixerOps
from supernet.mixers.linear import kernel_attention


def binary_features(x: jax.Array, w: jax.Array) -> jax.Array:
    """(B, T, H, hd) x (H, hd, b) -> (B, T, H, 2b) in {0, 1}: the one-hot bits of sign(x W)."""
    s = jnp.tanh(jnp.einsum("bthd,hdk->bthk", x, w))
    c = s + jax.lax.stop_gradient(jnp.sign(s) - s)  # forward: sign; backward: tanh's gradient
    return jnp.concatenate([(1 + c) / 2, (1 - c) / 2], axis=-1)


def forward(
    ctx, h: jax.Array, keep: jax.Array | None, *, H: int, hd: int, causal: bool, opt: int = 16
) -> jax.Array:
    q, k, v = attention.project(ctx, h, H=H, hd=hd)
    w = ctx.param("eco_hash", (H, hd, opt), jax.nn.initializers.normal(1.0))
    out = kernel_attention(binary_features(q, w), binary_features(k, w), v, causal=causal, keep=keep)
    return attention.output(ctx, out, h.shape[-1])


def stack(block: dict, *, E: int, H: int, hd: int, opt: int = 0) -> dict:
    return {**attention.stack(block, E=E, H=H, hd=hd), "eco_hash": block["eco_hash"]}


def slice(layer: dict, *, E: int, H: int, hd: int, opt: int = 16) -> dict:  # noqa: A001
    return {**attention.slice(layer, E=E, H=H, hd=hd), "eco_hash": layer["eco_hash"][:H, :, :opt]}


OPS = MixerOps(keys=(*attention.KEYS, "eco_hash"), forward=forward, stack=stack, slice=slice)
