"""The blocks of a staged vision model that a flat transformer has not: MBConv, the reductions
between stages, and window partitioning; each as a Flax module plus the slicing of its
supernet weights (leading channels, centre kernel taps) into that module's exact shape.

Tokens travel as ``(B, T, E)`` with the stage's static grid ``(h, w)``, ``T = h * w``,
row-major.  Every reduction halves the grid (2x2 windows, stride 2).

* :class:`MBConv` (MobileNetV2's inverted residual, Sandler et al., CVPR 2018; elastic kernel
  and expansion as in Once-for-All, Cai et al., ICLR 2020, and ElasticViT, Tang et al., ICCV
  2023): ``x + project(gelu(dwconv_k(gelu(expand(LN(x))))))`` with ``N = floor(E * ratio)``
  hidden channels.  LayerNorm and GELU stand in for BatchNorm and h-swish (no batch
  statistics to carry in a weight-sharing supernet).  A ``k x k`` kernel is the centre of the
  supernet's 7x7 (or largest) kernel (OFA's elastic kernel without its transform matrices).
* :class:`Reduction` into the next stage, width ``E -> F``:
  ``strided_conv``: ``conv2x2/2(LN(x))``; ``residual_spatial_reduction`` (ViT-ResNAS, Liao
  et al., 2021): that plus ``pad_F(avgpool2x2(x))`` (zeros for the new channels);
  ``q_pooling`` (MViT, Fan et al., ICCV 2021; TurboViT, Wong et al., 2023):
  ``skip(avgpool(x)) + o(Attn(q(avgpool(LN x)), k(LN x), v(LN x)))`` with ``F / head_dim``
  heads.  Pooling before the query projection equals pooling after it (both linear).

Supernet layouts (``Emax``/``Fmax`` the largest widths, ``Nmax = Emax * max ratio``, ``K`` the
largest kernel, ``L`` the stage's slots)::

  mbconv layers  ln {scale, bias} (L, Emax); expand {kernel (L, Emax, Nmax), bias (L, Nmax)};
                 dw {kernel (L, K, K, 1, Nmax), bias (L, Nmax)}; project {kernel (L, Nmax, Emax),
                 bias (L, Emax)}
  reduction      ln {scale, bias} (Emax,); conv {kernel (2, 2, Emax, Fmax), bias (Fmax,)}
                 (strided_conv, residual_spatial_reduction) | q, k, v {kernel (Emax, Fmax),
                 bias (Fmax,)}, o {kernel (Fmax, Fmax), bias (Fmax,)}, skip {kernel (Emax, Fmax),
                 bias (Fmax,)} (q_pooling)
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from supernet.mixers.sdp import softmax_attention


def to_grid(x: jax.Array, grid: tuple[int, int]) -> jax.Array:
    """(B, T, E) -> (B, h, w, E)."""
    return x.reshape(x.shape[0], grid[0], grid[1], x.shape[-1])


def pool2(x: jax.Array, grid: tuple[int, int]) -> jax.Array:
    """2x2 average pooling, stride 2: (B, h*w, E) -> (B, h*w/4, E)."""
    B, E = x.shape[0], x.shape[-1]
    g = x.reshape(B, grid[0] // 2, 2, grid[1] // 2, 2, E).mean(axis=(2, 4))
    return g.reshape(B, -1, E)


def partition(x: jax.Array, grid: tuple[int, int], window: int) -> jax.Array:
    """(B, h*w, E) -> (B * nW, window^2, E): non-overlapping mask units (TurboViT)."""
    B, E, (h, w) = x.shape[0], x.shape[-1], grid
    x = x.reshape(B, h // window, window, w // window, window, E).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, E)


def unpartition(x: jax.Array, grid: tuple[int, int], window: int) -> jax.Array:
    """Inverse of :func:`partition`: (B * nW, window^2, E) -> (B, h*w, E)."""
    E, (h, w) = x.shape[-1], grid
    x = x.reshape(-1, h // window, w // window, window, window, E).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h * w, E)


class MBConv(nn.Module):
    """Inverted residual: x + project(gelu(dw_k(gelu(expand(LN x))))); x: (B, h*w, E)."""

    hidden: int
    kernel: int
    grid: tuple[int, int]
    ln_eps: float = 1e-6

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        E, N = x.shape[-1], self.hidden
        h = nn.LayerNorm(epsilon=self.ln_eps, name="ln")(x)
        h = nn.gelu(nn.Dense(N, name="expand")(h))  # (B,T,N)
        h = nn.Conv(N, (self.kernel, self.kernel), padding="SAME", feature_group_count=N, name="dw")(
            to_grid(h, self.grid)
        )  # (B,h,w,N) depthwise
        h = nn.gelu(h).reshape(x.shape[0], -1, N)
        return x + nn.Dense(E, name="project")(h)


class Reduction(nn.Module):
    """(B, h*w, E) -> (B, h*w/4, F): the stage-to-stage reduction ``kind`` (module docstring)."""

    kind: str
    width: int  # F
    grid: tuple[int, int]
    head_dim: int
    ln_eps: float = 1e-6

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        B, E, F = x.shape[0], x.shape[-1], self.width
        h = nn.LayerNorm(epsilon=self.ln_eps, name="ln")(x)
        if self.kind == "q_pooling":
            H = F // self.head_dim
            q = nn.Dense(F, name="q")(pool2(h, self.grid)).reshape(B, -1, H, self.head_dim)  # (B,T/4,H,hd)
            k = nn.Dense(F, name="k")(h).reshape(B, -1, H, self.head_dim)  # (B,T,H,hd)
            v = nn.Dense(F, name="v")(h).reshape(B, -1, H, self.head_dim)
            a = softmax_attention(q, k, v, causal=False).reshape(B, -1, F)
            return nn.Dense(F, name="skip")(pool2(x, self.grid)) + nn.Dense(F, name="o")(a)
        y = nn.Conv(F, (2, 2), strides=(2, 2), padding="VALID", name="conv")(to_grid(h, self.grid))
        y = y.reshape(B, -1, F)  # (B,T/4,F)
        if self.kind == "residual_spatial_reduction":
            y = y + jnp.pad(pool2(x, self.grid), ((0, 0), (0, 0), (0, F - E)))
        return y


# ---- slicing (shared by the supernet's forward pass and by extraction) ------------------------


def slice_mbconv(layer: dict, *, E: int, N: int, k: int) -> dict:
    """One MBConv layer's supernet weights cut to width E, N hidden channels and a k x k kernel."""
    K = layer["dw"]["kernel"].shape[0]
    a = (K - k) // 2
    return {
        "ln": {"scale": layer["ln"]["scale"][:E], "bias": layer["ln"]["bias"][:E]},
        "expand": {"kernel": layer["expand"]["kernel"][:E, :N], "bias": layer["expand"]["bias"][:N]},
        "dw": {"kernel": layer["dw"]["kernel"][a : a + k, a : a + k, :, :N], "bias": layer["dw"]["bias"][:N]},
        "project": {"kernel": layer["project"]["kernel"][:N, :E], "bias": layer["project"]["bias"][:E]},
    }


def slice_reduction(p: dict, *, E: int, F: int) -> dict:
    """A reduction's supernet weights cut from (Emax -> Fmax) to (E -> F)."""
    out = {"ln": {"scale": p["ln"]["scale"][:E], "bias": p["ln"]["bias"][:E]}}
    if "conv" in p:
        out["conv"] = {"kernel": p["conv"]["kernel"][:, :, :E, :F], "bias": p["conv"]["bias"][:F]}
        return out
    for name in ("q", "k", "v", "skip"):
        out[name] = {"kernel": p[name]["kernel"][:E, :F], "bias": p[name]["bias"][:F]}
    out["o"] = {"kernel": p["o"]["kernel"][:F, :F], "bias": p["o"]["bias"][:F]}
    return out
