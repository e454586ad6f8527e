"""FNet's Fourier mixing: the real part of the 2-D DFT over tokens and channels (Lee-Thorp et
al., NAACL 2022), with orthonormal scaling, as ``C_T X C_E - S_T X S_E`` (cosine and sine DFT
matrices, constants of the program): the dense form FNet uses for short sequences, which
StableHLO and ONNX export as plain matrix products.  No weights; no causal form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from supernet.mixers.api import MixerOps


def dft_matrices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) parts of the orthonormal DFT matrix of size n: F = (C - i S) / sqrt(n)."""
    k = np.arange(n)
    angle = 2 * np.pi * np.outer(k, k) / n
    return (np.cos(angle) / np.sqrt(n)).astype(np.float32), (np.sin(angle) / np.sqrt(n)).astype(np.float32)


def dft2_real(x: jax.Array) -> jax.Array:
    """Re(F_T X F_E) of x (B, T, E) (= Re(fft2(x)) / sqrt(T E))."""
    ct, st = dft_matrices(x.shape[1])
    ce, se = dft_matrices(x.shape[2])
    c, s = jnp.einsum("ts,bse->bte", ct, x), jnp.einsum("ts,bse->bte", st, x)  # over tokens
    return c @ ce - s @ se  # over channels


def forward(
    ctx, h: jax.Array, keep: jax.Array | None, *, H: int, hd: int, causal: bool, opt: int = 0
) -> jax.Array:
    return dft2_real(h)


OPS = MixerOps(keys=(), forward=forward, stack=lambda block, **kw: {}, slice=lambda layer, **kw: {})
