"""The 2-D DCT-II over tokens and channels, orthonormal (FlexiBERT's LT-DCT, Tuli et al., JAIR
2023; Ahmed et al., 1974), as ``D_T X D_E^T`` with constant DCT matrices (exports as matrix
products).  No weights; no causal form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from supernet.mixers.api import MixerOps


def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix D (n, n): D[k, i] = s_k cos(pi (i + 1/2) k / n)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    d = np.cos(np.pi * (i + 0.5) * k / n) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


def dct2(x: jax.Array) -> jax.Array:
    """D_T X D_E^T of x (B, T, E) (scipy.fft.dctn(x, type=2, norm='ortho') over axes 1, 2)."""
    return jnp.einsum("ts,bse->bte", dct_matrix(x.shape[1]), x) @ dct_matrix(x.shape[2]).T


def forward(
    ctx, h: jax.Array, keep: jax.Array | None, *, H: int, hd: int, causal: bool, opt: int = 0
) -> jax.Array:
    return dct2(h)


OPS = MixerOps(keys=(), forward=forward, stack=lambda block, **kw: {}, slice=lambda layer, **kw: {})
