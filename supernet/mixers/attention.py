"""Weights shared by the attention mixers: a fused q/k/v projection and an output projection.

Stand-alone: ``qkv`` Dense (E -> 3 H hd), ``out`` Dense (H hd -> E).  Supernet (one layer):
``qkv {kernel (E, 3, H, hd), bias (3, H, hd)}``, ``out {kernel (H, hd, E), bias (E,)}``, sliced
to the leading ``E`` and ``H``.
"""

from __future__ import annotations

from typing import Callable

import jax

from supernet.mixers.api import MixerOps

KEYS = ("qkv", "out")


def project(ctx, h: jax.Array, *, H: int, hd: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """q, k, v (B, T, H, hd) of the normalized input ``h`` (B, T, E)."""
    B, T, _ = h.shape
    qkv = ctx.dense("qkv", 3 * H * hd)(h).reshape(B, T, 3, H, hd)  # (B,T,3,H,hd)
    return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]


def output(ctx, a: jax.Array, E: int) -> jax.Array:
    """(B, T, H, hd) -> (B, T, E)."""
    B, T = a.shape[:2]
    return ctx.dense("out", E)(a.reshape(B, T, -1))


def stack(block: dict, *, E: int, H: int, hd: int, opt: int = 0) -> dict:
    return {
        "qkv": {
            "kernel": block["qkv"]["kernel"].reshape(E, 3, H, hd),
            "bias": block["qkv"]["bias"].reshape(3, H, hd),
        },
        "out": {"kernel": block["out"]["kernel"].reshape(H, hd, E), "bias": block["out"]["bias"]},
    }


def slice(layer: dict, *, E: int, H: int, hd: int, opt: int = 0) -> dict:  # noqa: A001
    return {
        "qkv": {
            "kernel": layer["qkv"]["kernel"][:E, :, :H, :].reshape(E, 3 * H * hd),
            "bias": layer["qkv"]["bias"][:, :H, :].reshape(3 * H * hd),
        },
        "out": {
            "kernel": layer["out"]["kernel"][:H, :, :E].reshape(H * hd, E),
            "bias": layer["out"]["bias"][:E],
        },
    }


def mixer(attend: Callable[..., jax.Array]) -> MixerOps:
    """The ops of a mixer that is these projections around ``attend(q, k, v, *, causal, keep)``
    ((B, T, H, hd) each -> (B, T, H, hd)): softmax attention, linear attention."""

    def forward(
        ctx, h: jax.Array, keep: jax.Array | None, *, H: int, hd: int, causal: bool, opt: int = 0
    ) -> jax.Array:
        q, k, v = project(ctx, h, H=H, hd=hd)
        return output(ctx, attend(q, k, v, causal=causal, keep=keep), h.shape[-1])

    return MixerOps(keys=KEYS, forward=forward, stack=stack, slice=slice)
