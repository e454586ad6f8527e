"""The elastic weight-sharing transformer (the supernet).

One set of weights holds the largest model of a search space; a subnet uses
the *leading slices* of every weight (weight entanglement: AutoFormer, Chen et
al., ICCV 2021; HAT, Wang et al., ACL 2020).  Per layer the subnet chooses its
head count, MLP width and attention type (softmax or kernelized linear
attention, as in "Neural Architecture Search on Efficient Transformers and
Beyond", Liu et al., 2022).

How a subnet runs without one compile per architecture (see docs/design.md and
``benchmarks/bench_supernet_step.py``):

* the embedding width ``E`` is *static*: one compiled program per choice of
  ``E`` (3 for the built-in spaces), so LayerNorm always normalizes over exactly
  the active width and no masks are needed;
* the layers run in a ``lax.scan`` over the stacked layer weights; each layer
  picks, with ``lax.switch`` on a traced integer *code*, one branch per static
  (heads, MLP width, attention type) that slices the weights to exactly that
  shape and runs :class:`supernet.standalone.Block`; code 0 skips the layer
  (depth).  Only the chosen branch executes, so a subnet costs what its
  exact-shape model costs; each branch is rematerialized (``jax.checkpoint``)
  so that the backward pass of ``switch`` keeps only its inputs instead of
  zero-filled residuals of every branch.

The subnet is an explicit argument: ``apply(params, x, arch)`` with an
:class:`ArchConfig`, or :func:`apply_codes` with the static width and the
per-layer codes of :func:`encode_arch`.  There is no hidden active state.

Parameter layout (``Emax``, ``Hmax``, ``Mmax`` the largest choices, ``L`` =
``max_depth``, ``hd`` the head width)::

  embed   {kernel (P, Emax), bias (Emax,)} (vit) | {embedding (V, Emax)} (charlm)
  pos     (T, Emax)
  layers  ln1/ln2 {scale, bias} (L, Emax); qkv {kernel (L, Emax, 3, Hmax, hd),
          bias (L, 3, Hmax, hd)}; out {kernel (L, Hmax, hd, Emax), bias (L, Emax)};
          fc1 {kernel (L, Emax, Mmax), bias (L, Mmax)}; fc2 {kernel (L, Mmax, Emax), bias (L, Emax)}
  ln_f    {scale, bias} (Emax,)
  head    {kernel (Emax, C), bias (C,)}  (absent with ``task.tie_embeddings``: logits = x @ embedding^T)

LM task options that GPT-2 needs (``supernet.pretrained``): ``task.ln_eps`` (LayerNorm
epsilon, default 1e-6, GPT-2 uses 1e-5) and ``task.tie_embeddings`` (output head tied to
the token embedding, no bias).  The MLP's GELU is the tanh approximation, as GPT-2's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces.complexity import task_geometry
from search_spaces.errors import NasError
from supernet import standalone


class Geometry(NamedTuple):
    """Static facts of a space that the supernet is built from (hashable)."""

    kind: str  # 'vit' or 'charlm'
    max_depth: int
    embed_choices: tuple[int, ...]
    head_choices: tuple[int, ...]
    mlp_choices: tuple[int, ...]
    attn_choices: tuple[str, ...]
    head_dim: int
    tokens: int
    in_dim: int  # patch pixels (vit) or vocabulary size (charlm)
    out_dim: int
    patch_size: int
    channels: int
    ln_eps: float = 1e-6  # LayerNorm epsilon (task.ln_eps)
    tied: bool = False  # output head = token embedding transposed (task.tie_embeddings)

    @property
    def attn_branches(self) -> tuple[tuple[int, str], ...]:
        """(heads, attn type) of attention codes 1, 2, ...; code 0 skips the sub-block."""
        return tuple((h, a) for h in self.head_choices for a in self.attn_choices)


def geometry(space: SearchSpace) -> Geometry:
    """The supernet geometry of a space; a clear error if it cannot be built."""
    geo = task_geometry(space)
    for name in ("num_heads", "mlp_dim"):
        if name not in space.layer_dims:
            raise NasError(f"space '{space.name}': the supernet needs '{name}' as a per-layer dimension")
    if "embed_dim" not in space.global_dims:
        raise NasError(f"space '{space.name}': the supernet needs a global dimension 'embed_dim'")
    attn = tuple(space.layer_dims.get("attn_type", ("softmax",)))
    bad = [a for a in attn if a not in ("softmax", "linear")]
    if bad:
        raise NasError(f"space '{space.name}': field 'attn_type' has unknown choice {bad[0]!r}")
    task = space.task
    return Geometry(
        kind=task["kind"],
        max_depth=space.max_depth,
        embed_choices=tuple(sorted(int(e) for e in space.global_dims["embed_dim"])),
        head_choices=tuple(sorted(int(h) for h in space.layer_dims["num_heads"])),
        mlp_choices=tuple(sorted(int(m) for m in space.layer_dims["mlp_dim"])),
        attn_choices=attn,
        head_dim=int(geo["head_dim"]),
        tokens=int(geo["tokens"]),
        in_dim=int(geo["in_dim"]),
        out_dim=int(geo["out_dim"]),
        patch_size=int(task.get("patch_size", 0)),
        channels=int(task.get("channels", 0)),
        ln_eps=float(task.get("ln_eps", 1e-6)),
        tied=bool(task.get("tie_embeddings", False)) and task["kind"] != "vit",
    )


def encode_arch(geo: Geometry, arch: ArchConfig) -> tuple[int, np.ndarray]:
    """(embed width, per-layer codes (max_depth, 2) int32: attention and MLP branch; 0 = skip)."""
    codes = np.zeros((geo.max_depth, 2), np.int32)
    attn_table = {b: i + 1 for i, b in enumerate(geo.attn_branches)}
    attn = arch.get("attn_type", ("softmax",) * arch.depth)
    for i in range(arch.depth):
        codes[i, 0] = attn_table[(int(arch.num_heads[i]), attn[i])]
        codes[i, 1] = geo.mlp_choices.index(int(arch.mlp_dim[i])) + 1
    return int(arch.embed_dim), codes


# ---- slicing (shared by the forward pass and by extract) ----------------------------------


def slice_layer(layer: dict, *, E: int, H: int, M: int) -> dict:
    """Leading slices of ONE layer's supernet weights in the standalone Block layout."""
    hd = layer["qkv"]["kernel"].shape[-1]
    return {
        "ln1": {"scale": layer["ln1"]["scale"][:E], "bias": layer["ln1"]["bias"][:E]},
        "qkv": {
            "kernel": layer["qkv"]["kernel"][:E, :, :H, :].reshape(E, 3 * H * hd),
            "bias": layer["qkv"]["bias"][:, :H, :].reshape(3 * H * hd),
        },
        "out": {
            "kernel": layer["out"]["kernel"][:H, :, :E].reshape(H * hd, E),
            "bias": layer["out"]["bias"][:E],
        },
        "ln2": {"scale": layer["ln2"]["scale"][:E], "bias": layer["ln2"]["bias"][:E]},
        "fc1": {"kernel": layer["fc1"]["kernel"][:E, :M], "bias": layer["fc1"]["bias"][:M]},
        "fc2": {"kernel": layer["fc2"]["kernel"][:M, :E], "bias": layer["fc2"]["bias"][:E]},
    }


def slice_globals(params: dict, *, E: int) -> dict:
    """Embedding, positions, final norm and head sliced to width E (standalone names)."""
    embed = params["embed"]
    if "embedding" in embed:
        embed = {"embedding": embed["embedding"][:, :E]}
    else:
        embed = {"kernel": embed["kernel"][:, :E], "bias": embed["bias"][:E]}
    out = {
        "embed": embed,
        "pos": params["pos"][:, :E],
        "ln_f": {"scale": params["ln_f"]["scale"][:E], "bias": params["ln_f"]["bias"][:E]},
    }
    if "head" in params:  # absent when tied to the embedding
        out["head"] = {"kernel": params["head"]["kernel"][:E], "bias": params["head"]["bias"]}
    return out


# ---- forward ------------------------------------------------------------------------------


def _attn_fn(geo: Geometry, E: int, H: int, attn: str):
    """x + Attn(LN1(x)) with H heads of the given type, weights sliced to exactly (E, H)."""
    hd, causal = geo.head_dim, geo.kind != "vit"
    attend = standalone.linear_attention if attn == "linear" else standalone.softmax_attention

    @jax.checkpoint
    def run(x, layer):
        p = slice_layer(layer, E=E, H=H, M=0)
        B, T, _ = x.shape
        h = nn.LayerNorm(epsilon=geo.ln_eps).apply({"params": p["ln1"]}, x)
        qkv = nn.Dense(3 * H * hd).apply({"params": p["qkv"]}, h).reshape(B, T, 3, H, hd)
        a = attend(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], causal=causal).reshape(B, T, H * hd)
        return x + nn.Dense(E).apply({"params": p["out"]}, a)

    return run


def _mlp_fn(E: int, M: int, eps: float):
    """x + MLP(LN2(x)) of width M, weights sliced to exactly (E, M)."""

    @jax.checkpoint
    def run(x, layer):
        p = slice_layer(layer, E=E, H=0, M=M)
        h = nn.LayerNorm(epsilon=eps).apply({"params": p["ln2"]}, x)
        h = nn.gelu(nn.Dense(M).apply({"params": p["fc1"]}, h))
        return x + nn.Dense(E).apply({"params": p["fc2"]}, h)

    return run


def apply_codes(params: dict, x: jax.Array, codes: jax.Array, *, geo: Geometry, embed_dim: int) -> jax.Array:
    """Forward pass of the subnet (embed_dim static, per-layer ``codes`` traced).

    x: images (B, H, W[, C]) or tokens (B, T) -> logits (B, C) or (B, T, V).
    """
    E = embed_dim
    g = slice_globals(params, E=E)
    if geo.kind == "vit":
        x = standalone.patchify(x, patch=geo.patch_size, channels=geo.channels)  # (B,T,P)
        x = nn.Dense(E).apply({"params": g["embed"]}, x)  # (B,T,E)
    else:
        x = nn.Embed(geo.in_dim, E).apply({"params": g["embed"]}, x)  # (B,T,E)
    x = x + g["pos"][: x.shape[1]]
    skip = [lambda x, layer: x]
    attn_branches = skip + [_attn_fn(geo, E, h, a) for h, a in geo.attn_branches]
    mlp_branches = skip + [_mlp_fn(E, m, geo.ln_eps) for m in geo.mlp_choices]

    def body(x, inputs):
        code, layer = inputs  # code: (2,) = (attention branch, MLP branch); 0 skips
        x = jax.lax.switch(code[0], attn_branches, x, layer)
        return jax.lax.switch(code[1], mlp_branches, x, layer), None

    x, _ = jax.lax.scan(body, x, (codes, params["layers"]))
    x = nn.LayerNorm(epsilon=geo.ln_eps).apply({"params": g["ln_f"]}, x)
    if geo.kind == "vit":
        x = x.mean(axis=1)  # (B,E)
    if geo.tied:
        return x @ g["embed"]["embedding"].T  # (B,T,V)
    return nn.Dense(geo.out_dim).apply({"params": g["head"]}, x)


def apply(params: dict, x: jax.Array, arch: ArchConfig, *, geo: Geometry) -> jax.Array:
    """Forward pass of the subnet ``arch`` (an explicit argument, no hidden state)."""
    E, codes = encode_arch(geo, arch)
    return _apply_jit(params, x, jnp.asarray(codes), geo=geo, embed_dim=E)


_apply_jit = jax.jit(apply_codes, static_argnames=("geo", "embed_dim"))


# ---- initialization -----------------------------------------------------------------------


def largest_arch(space: SearchSpace) -> ArchConfig:
    """The architecture with every dimension at its largest choice (all layers active)."""
    geo = geometry(space)
    L = geo.max_depth
    dims: dict[str, Any] = {d.name: d.largest() for d in space.global_dimensions}
    dims.update({d.name: [d.largest()] * L for d in space.layer_dimensions})
    dims["embed_dim"] = max(geo.embed_choices)
    dims["num_heads"] = [max(geo.head_choices)] * L
    dims["mlp_dim"] = [max(geo.mlp_choices)] * L
    return ArchConfig.make(depth=L, **dims)


def init(space: SearchSpace, key: jax.Array) -> dict:
    """Supernet weights: the largest standalone model's Flax init, restacked.

    Returns the params dict (no ``{"params": ...}`` wrapper).
    """
    geo = geometry(space)
    arch = largest_arch(space)
    task = dict(space.task)
    model = standalone.Transformer(arch=arch, task=task)
    p = jax.jit(model.init)(key, standalone.example_input(space))["params"]
    L, E, Hm, hd = geo.max_depth, arch.embed_dim, max(geo.head_choices), geo.head_dim
    blocks = [p[f"block{i}"] for i in range(L)]

    def stack(fn):
        return jnp.stack([fn(b) for b in blocks])

    layers = {
        "ln1": {"scale": stack(lambda b: b["ln1"]["scale"]), "bias": stack(lambda b: b["ln1"]["bias"])},
        "qkv": {
            "kernel": stack(lambda b: b["qkv"]["kernel"].reshape(E, 3, Hm, hd)),
            "bias": stack(lambda b: b["qkv"]["bias"].reshape(3, Hm, hd)),
        },
        "out": {
            "kernel": stack(lambda b: b["out"]["kernel"].reshape(Hm, hd, E)),
            "bias": stack(lambda b: b["out"]["bias"]),
        },
        "ln2": {"scale": stack(lambda b: b["ln2"]["scale"]), "bias": stack(lambda b: b["ln2"]["bias"])},
        "fc1": {"kernel": stack(lambda b: b["fc1"]["kernel"]), "bias": stack(lambda b: b["fc1"]["bias"])},
        "fc2": {"kernel": stack(lambda b: b["fc2"]["kernel"]), "bias": stack(lambda b: b["fc2"]["bias"])},
    }
    return {
        "embed": dict(p["embed"]),
        "pos": p["pos"],
        "layers": layers,
        "ln_f": dict(p["ln_f"]),
        **({"head": dict(p["head"])} if "head" in p else {}),
    }
