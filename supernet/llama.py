"""Llama-family blocks: RMSNorm, rotary positions, SwiGLU and grouped-query attention.

The decoder of Llama (Touvron et al., 2023) and its kin (SmolLM, TinyLlama,
Mistral, Qwen2 without biases), selected by ``task.block: llama`` (see
:mod:`search_spaces.geometry`).  Shapes: B batch, T tokens, E width, H query
heads and K key/value heads of width hd (H a multiple of K), M MLP width::

  x = embed(ids)                                              (B,T,E), no positions
  per layer:  h = RMSNorm(x) * ln1                            (Zhang & Sennrich, 2019)
              q = h Wq (B,T,H,hd), k = h Wk, v = h Wv (B,T,K,hd); RoPE on q, k (Su et al., 2021)
              query head j attends with KV head j // (H/K)    (GQA, Ainslie et al., 2023)
              x = x + o(softmax(q k^T / sqrt(hd), causal) v)
              x = x + down(silu(gate(RMSNorm(x) * ln2)) * up(...))   (SwiGLU, Shazeer, 2020)
  logits = RMSNorm(x) * ln_f @ head (E,V), or @ embed^T when tied; no biases anywhere

Rotary embeddings rotate pairs (i, i + hd/2) (Hugging Face's ``rotate_half``
layout) by ``position * inv_freq_i``, ``inv_freq_i = theta^(-2i/hd)``, optionally
rescaled (``linear``: divided by ``factor``; ``llama3``: Meta's smooth
low/high-frequency rule).

Elastic supernet (leading slices, weight entanglement as in :mod:`supernet.model`):
a subnet of H query heads and K KV heads uses the first H query heads and the
first K KV heads of a layer, query head j reading KV head j // (H/K), and the
first M channels of gate, up and down alike.  Supernet layout (L layers, maxima
Emax, Hmax, Kmax, Mmax)::

  embed {embedding (V, Emax)}
  layers  ln1/ln2 {scale (L, Emax)}; q {kernel (L, Emax, Hmax, hd)}; k, v {kernel (L, Emax, Kmax, hd)};
          o {kernel (L, Hmax, hd, Emax)}; gate, up {kernel (L, Emax, Mmax)}; down {kernel (L, Mmax, Emax)}
  ln_f    {scale (Emax,)}
  head    {kernel (Emax, V)}; absent when tied
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig
from search_spaces.errors import NasError
from search_spaces.geometry import TaskGeometry, geometry_of_task
from supernet.layer_loop import StandaloneModel, blocks_then_head
from supernet.widths import mlp_widths

# ---- the operations -----------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * scale (no centring, no bias)."""

    eps: float = 1e-6

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        x32 = x.astype(jnp.float32)  # the statistic in float32 whatever the compute dtype
        inv = jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (x32 * inv).astype(x.dtype) * scale


def rms_norm(x: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
    return RMSNorm(eps=eps).apply({"params": {"scale": scale}}, x)


def inv_freq(geo: TaskGeometry) -> np.ndarray:
    """(hd/2,) rotary frequencies of the geometry's base and scaling (float64, computed once)."""
    hd = geo.head_dim
    freq = 1.0 / geo.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    s = dict(geo.rope_scaling)
    if s.get("type") == "linear":
        freq = freq / s["factor"]
    elif s.get("type") == "llama3":
        factor, lo, hi, old = (
            s["factor"],
            s["low_freq_factor"],
            s["high_freq_factor"],
            s["original_max_position_embeddings"],
        )
        wavelen = 2 * math.pi / freq
        scaled = np.where(wavelen > old / lo, freq / factor, freq)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        freq = np.where(medium, smoothed, scaled)
    return freq


def rope(x: jax.Array, freq: np.ndarray) -> jax.Array:
    """Rotary embedding of x (B, T, H, hd) at positions 0..T-1 (pairs i and i + hd/2)."""
    T = x.shape[1]
    angles = np.arange(T, dtype=np.float64)[:, None] * freq[None, :]  # (T, hd/2)
    cos = jnp.asarray(np.cos(np.concatenate([angles, angles], -1)), x.dtype)[None, :, None, :]
    sin = jnp.asarray(np.sin(np.concatenate([angles, angles], -1)), x.dtype)[None, :, None, :]
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def gqa_attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """Causal softmax attention, q (B,T,H,hd), k and v (B,T,K,hd) -> (B,T,H,hd); head j reads KV j // (H/K)."""
    B, T, H, hd = q.shape
    K = k.shape[2]
    q = q.reshape(B, T, K, H // K, hd)
    scores = jnp.einsum("btkgd,bskd->bkgts", q, k) / jnp.sqrt(hd).astype(q.dtype)  # (B,K,G,T,T)
    scores = jnp.where(jnp.tril(jnp.ones((T, T), dtype=bool)), scores, jnp.finfo(scores.dtype).min)
    probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(v.dtype)  # float32 statistics
    out = jnp.einsum("bkgts,bskd->btkgd", probs, v)
    return out.reshape(B, T, H, hd)


def check_grouping(arch: ArchConfig) -> None:
    """Every layer's query heads a multiple of its KV heads: else one line naming the layer and values."""
    kv = kv_heads(arch)
    for i, (h, k) in enumerate(zip(arch.num_heads, kv, strict=True)):
        if int(h) % int(k):
            raise NasError(
                f"layer {i}: num_heads {h} is not a multiple of num_kv_heads {k} (grouped-query attention)"
            )


def kv_heads(arch: ArchConfig) -> tuple[int, ...]:
    """Per-layer KV heads: ``num_kv_heads`` (per layer or global), else as many as query heads."""
    return tuple(
        int(k) for k in (arch.per_layer("num_kv_heads") if "num_kv_heads" in arch else arch.num_heads)
    )


# ---- the stand-alone model ----------------------------------------------------------------------


class Block(nn.Module):
    """x + Attn(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)); x: (B, T, E)."""

    num_heads: int
    num_kv_heads: int
    head_dim: int
    mlp_dim: int
    eps: float
    freq: tuple[float, ...]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        B, T, E = x.shape
        H, K, hd = self.num_heads, self.num_kv_heads, self.head_dim
        freq = np.asarray(self.freq)
        dense = lambda n, name: nn.Dense(n, use_bias=False, name=name)  # noqa: E731
        h = RMSNorm(self.eps, name="ln1")(x)
        q = rope(dense(H * hd, "q")(h).reshape(B, T, H, hd), freq)
        k = rope(dense(K * hd, "k")(h).reshape(B, T, K, hd), freq)
        v = dense(K * hd, "v")(h).reshape(B, T, K, hd)
        x = x + dense(E, "o")(gqa_attention(q, k, v).reshape(B, T, H * hd))
        h = RMSNorm(self.eps, name="ln2")(x)
        h = nn.silu(dense(self.mlp_dim, "gate")(h)) * dense(self.mlp_dim, "up")(h)  # (B,T,M)
        return x + dense(E, "down")(h)


class Transformer(StandaloneModel):
    """A Llama-style causal LM of one architecture (the model a subnet becomes)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        geo, E = geometry_of_task(self.task), self.arch.embed_dim
        check_grouping(self.arch)
        embed = nn.Embed(geo.in_dim, E, name="embed")
        x = embed(x)  # (B,T,E)
        freq = tuple(float(f) for f in inv_freq(geo))
        kv, mlp = kv_heads(self.arch), mlp_widths(self.arch)
        return blocks_then_head(
            x,
            depth=self.arch.depth,
            block=lambda i: Block(
                int(self.arch.num_heads[i]), kv[i], geo.head_dim, mlp[i], geo.ln_eps, freq, name=f"block{i}"
            ),
            final_norm=RMSNorm(geo.ln_eps, name="ln_f"),
            geo=geo,
            embed=embed,
            head_bias=False,
        )  # (B,T,V)


# ---- the supernet: slicing, branches, stacking --------------------------------------------------


def slice_layer(layer: dict, *, E: int, H: int, K: int, M: int) -> dict:
    """Leading slices of ONE layer's supernet weights in the stand-alone :class:`Block` layout."""
    hd = layer["q"]["kernel"].shape[-1]
    return {
        "ln1": {"scale": layer["ln1"]["scale"][:E]},
        "q": {"kernel": layer["q"]["kernel"][:E, :H].reshape(E, H * hd)},
        "k": {"kernel": layer["k"]["kernel"][:E, :K].reshape(E, K * hd)},
        "v": {"kernel": layer["v"]["kernel"][:E, :K].reshape(E, K * hd)},
        "o": {"kernel": layer["o"]["kernel"][:H, :, :E].reshape(H * hd, E)},
        "ln2": {"scale": layer["ln2"]["scale"][:E]},
        "gate": {"kernel": layer["gate"]["kernel"][:E, :M]},
        "up": {"kernel": layer["up"]["kernel"][:E, :M]},
        "down": {"kernel": layer["down"]["kernel"][:M, :E]},
    }


def slice_globals(params: dict, *, E: int) -> dict:
    out = {
        "embed": {"embedding": params["embed"]["embedding"][:, :E]},
        "ln_f": {"scale": params["ln_f"]["scale"][:E]},
    }
    if "head" in params:
        out["head"] = {"kernel": params["head"]["kernel"][:E]}
    return out


def attn_fn(tg: TaskGeometry, E: int, H: int, K: int):
    """x + Attn(RMSNorm(x)) with H query and K KV heads, weights sliced to exactly (E, H, K)."""
    hd, freq = tg.head_dim, inv_freq(tg)

    def run(x, layer, keep):
        p = slice_layer(layer, E=E, H=H, K=K, M=0)
        B, T, _ = x.shape
        h = rms_norm(x, p["ln1"]["scale"], tg.ln_eps)
        q = rope((h @ p["q"]["kernel"]).reshape(B, T, H, hd), freq)
        k = rope((h @ p["k"]["kernel"]).reshape(B, T, K, hd), freq)
        v = (h @ p["v"]["kernel"]).reshape(B, T, K, hd)
        return x + gqa_attention(q, k, v).reshape(B, T, H * hd) @ p["o"]["kernel"]

    return run


def mlp_fn(tg: TaskGeometry, E: int, M: int):
    """x + SwiGLU(RMSNorm(x)) of width M (gate, up and down sliced alike)."""

    def run(x, layer):
        p = slice_layer(layer, E=E, H=0, K=0, M=M)
        h = rms_norm(x, p["ln2"]["scale"], tg.ln_eps)
        return x + (nn.silu(h @ p["gate"]["kernel"]) * (h @ p["up"]["kernel"])) @ p["down"]["kernel"]

    return run


def embed(g: dict, x: jax.Array) -> jax.Array:
    return jnp.take(g["embed"]["embedding"], x, axis=0)  # (B,T,E), no positions (RoPE)


def logits(g: dict, x: jax.Array, tg: TaskGeometry) -> jax.Array:
    x = rms_norm(x, g["ln_f"]["scale"], tg.ln_eps)
    if "head" in g:
        return x @ g["head"]["kernel"]
    return x @ g["embed"]["embedding"].T


def stack(p: dict, *, L: int, H: int, K: int, hd: int) -> dict:
    """Supernet params from the largest stand-alone model's params ``p`` (layers stacked)."""
    blocks = [p[f"block{i}"] for i in range(L)]

    def st(fn):
        return jnp.stack([fn(b) for b in blocks])

    E = blocks[0]["ln1"]["scale"].shape[0]
    layers = {
        "ln1": {"scale": st(lambda b: b["ln1"]["scale"])},
        "q": {"kernel": st(lambda b: b["q"]["kernel"].reshape(E, H, hd))},
        "k": {"kernel": st(lambda b: b["k"]["kernel"].reshape(E, K, hd))},
        "v": {"kernel": st(lambda b: b["v"]["kernel"].reshape(E, K, hd))},
        "o": {"kernel": st(lambda b: b["o"]["kernel"].reshape(H, hd, E))},
        "ln2": {"scale": st(lambda b: b["ln2"]["scale"])},
        "gate": {"kernel": st(lambda b: b["gate"]["kernel"])},
        "up": {"kernel": st(lambda b: b["up"]["kernel"])},
        "down": {"kernel": st(lambda b: b["down"]["kernel"])},
    }
    out = {"embed": dict(p["embed"]), "layers": layers, "ln_f": dict(p["ln_f"])}
    if "head" in p:
        out["head"] = dict(p["head"])
    return out
