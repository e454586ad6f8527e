"""Cascaded group attention (EfficientViT, Liu et al., CVPR 2023).

Head ``i`` of ``H`` attends over its own split ``x_i`` of the channels (``c = E / H``) plus the
previous head's output: ``x_i' = x_i + o_{i-1}``; ``q, k = x_i' W_qk[i]`` (width ``hd``), ``v =
x_i' W_v[i]`` (width ``c``); the outputs are concatenated, passed through ReLU and projected
(E -> E).  Causal with the lower-triangular mask; padding keys get no weight.

Weights (stand-alone): ``cga_qk`` (H, c, 2, hd), ``cga_qkb`` (H, 2, hd), ``cga_v`` (H, c, c),
``cga_vb`` (H, c), ``cga_proj`` (E, E), ``cga_projb`` (E,).  The supernet holds them at the most
heads *and* the widest split (``Emax / Hmin``), which no single stand-alone model has, so it
makes them directly (``init``); a subnet takes the leading ``H`` heads, ``c`` channels and ``E``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet.mixers.api import MixerOps
from supernet.mixers.sdp import softmax_attention

KEYS = ("cga_qk", "cga_qkb", "cga_v", "cga_vb", "cga_proj", "cga_projb")
_W = jax.nn.initializers.normal(0.02)
_Z = jax.nn.initializers.zeros


def forward(
    ctx, h: jax.Array, keep: jax.Array | None, *, H: int, hd: int, causal: bool, opt: int = 0
) -> jax.Array:
    B, T, E = h.shape
    c = E // H
    wqk, bqk = ctx.param("cga_qk", (H, c, 2, hd), _W), ctx.param("cga_qkb", (H, 2, hd), _Z)
    wv, bv = ctx.param("cga_v", (H, c, c), _W), ctx.param("cga_vb", (H, c), _Z)
    xs = h.reshape(B, T, H, c)
    outs: list[jax.Array] = []
    for i in range(H):
        x = xs[:, :, i] if not outs else xs[:, :, i] + outs[-1]  # the cascade
        qk = jnp.einsum("btc,cfd->btfd", x, wqk[i]) + bqk[i]  # (B,T,2,hd)
        v = x @ wv[i] + bv[i]  # (B,T,c)
        o = softmax_attention(qk[:, :, 0, None], qk[:, :, 1, None], v[:, :, None], causal=causal, keep=keep)
        outs.append(o[:, :, 0])
    y = jax.nn.relu(jnp.concatenate(outs, axis=-1))  # (B,T,E)
    return y @ ctx.param("cga_proj", (E, E), _W) + ctx.param("cga_projb", (E,), _Z)


def init(key: jax.Array, *, L: int, E: int, heads: tuple[int, ...], hd: int, opt: int = 0) -> dict:
    Hm, C = max(heads), E // min(heads)
    k = jax.random.split(key, 3)
    return {
        "cga_qk": _W(k[0], (L, Hm, C, 2, hd)),
        "cga_qkb": jnp.zeros((L, Hm, 2, hd)),
        "cga_v": _W(k[1], (L, Hm, C, C)),
        "cga_vb": jnp.zeros((L, Hm, C)),
        "cga_proj": _W(k[2], (L, E, E)),
        "cga_projb": jnp.zeros((L, E)),
    }


def slice(layer: dict, *, E: int, H: int, hd: int, opt: int = 0) -> dict:  # noqa: A001
    c = E // H
    return {
        "cga_qk": layer["cga_qk"][:H, :c],
        "cga_qkb": layer["cga_qkb"][:H],
        "cga_v": layer["cga_v"][:H, :c, :c],
        "cga_vb": layer["cga_vb"][:H, :c],
        "cga_proj": layer["cga_proj"][:E, :E],
        "cga_projb": layer["cga_projb"][:E],
    }


OPS = MixerOps(keys=KEYS, forward=forward, stack=lambda block, **kw: {}, slice=slice, init=init)
