"""The elastic weight-sharing transformer (the supernet).

One set of weights holds the largest model of a search space; a subnet uses
the *leading slices* of every weight (weight entanglement: AutoFormer, Chen et
al., ICCV 2021; HAT, Wang et al., ACL 2020).  Per layer the subnet chooses its
head count, MLP width and stacked FFN layers, and its token mixer (softmax or
linear attention, ...: the plug-ins of :mod:`supernet.mixers`, whose weights,
slicing and computation each mixer's file declares).

How a subnet runs without one compile per architecture (see docs/design.md and
``benchmarks/bench_supernet_step.py``):

* the embedding width ``E`` is *static*: one compiled program per choice of
  ``E`` (3 for the built-in spaces), so LayerNorm always normalizes over exactly
  the active width and no masks are needed;
* the layers run in :func:`supernet.layer_stack.layer_stack`: a ``while`` loop over
  the subnet's active (leading) layer slots only, its depth a traced number, and a
  custom backward pass that loops over the same slots in reverse, so an empty slot
  costs nothing (a ``lax.scan`` over every slot made 1-2-layer subnets 1.5-1.65x
  their standalone step).  Each sub-block picks, with ``lax.switch`` on a traced
  integer *code*, one branch per static (heads, mixer) or (MLP width, FFN layers) that
  slices the weights to exactly that shape and runs the standalone block's
  computation; code 0 skips it.  Only the chosen branch executes, forward and
  backward (the backward runs the chosen branch's VJP, recomputing its forward from
  the saved sub-block input), so a subnet costs what its exact-shape model costs.

The subnet is an explicit argument: ``apply(params, x, arch)`` with an
:class:`ArchConfig`, or :func:`apply_codes` with the static width and the
per-layer codes of :func:`encode_arch`.  There is no hidden active state.

Parameter layout (``Emax``, ``Hmax``, ``Mmax`` the largest choices, ``L`` =
``max_depth``, ``hd`` the head width)::

  embed   {kernel (P, Emax), bias (Emax,)} (patches) | {embedding (V, Emax)} (token ids)
  pos     (T, Emax)
  layers  ln1/ln2 {scale, bias} (L, Emax); the mixers' weights (attention: qkv {kernel
          (L, Emax, 3, Hmax, hd), bias (L, 3, Hmax, hd)}; out {kernel (L, Hmax, hd, Emax),
          bias (L, Emax)}; others: their files in supernet/mixers/);
          fc1 {kernel (L, Emax, Mmax), bias (L, Mmax)}; fc2 {kernel (L, Mmax, Emax), bias (L, Emax)};
          ffn {kernel (L, Nmax - 1, Mmax, Mmax), bias (L, Nmax - 1, Mmax)} (only with num_ffn > 1)
  ln_f    {scale, bias} (Emax,)
  head    {kernel (Emax, C), bias (C,)}; absent when tied (logits = h @ embedding[:, :E]^T)

With ``task.block: llama`` the layers are Llama's (RMSNorm, rotary positions,
SwiGLU, grouped-query attention with per-layer ``num_kv_heads``); their layout,
slicing and branches live in :mod:`supernet.llama`, and attention codes then
enumerate (query heads, KV heads) pairs.

The task's geometry (:mod:`search_spaces.geometry`: patch or token-id input,
pooled or per-token output, causal or not, tied head, LayerNorm epsilon) is
static; the model never asks which task kind it serves.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces import mixers as specs
from supernet import llama, mixers, standalone
from supernet.geometry import IMPLEMENTED, LLAMA_SUB_KEYS, Geometry, geometry  # noqa: E402,F401  (re-exported)
from supernet.layer_stack import layer_stack, workspace
from supernet.widths import mlp_widths


def encode_arch(geo: Geometry, arch: ArchConfig) -> tuple[int, np.ndarray]:
    """(embed width, per-layer codes (max_depth, 2) int32: attention and MLP branch; 0 = skip)."""
    if not isinstance(geo, Geometry):  # staged: (tuple of stage widths, codes of all stages)
        from supernet import staged

        return staged.encode_arch(geo, arch)
    codes = np.zeros((geo.max_depth, 2), np.int32)
    attn_table = {b: i + 1 for i, b in enumerate(geo.attn_branches)}
    heads = [int(h) for h in arch.num_heads]
    if geo.task.llama:
        llama.check_grouping(arch)
        attn = list(llama.kv_heads(arch))
    else:
        choices = specs.arch_choices(arch)
        attn = [c.key for c in choices]
        heads = [h if c.spec.uses_heads else 0 for h, c in zip(heads, choices, strict=True)]
    mlp_table = {b: i + 1 for i, b in enumerate(geo.mlp_branches(int(arch.embed_dim)))}
    ffn = arch.per_layer("num_ffn", 1)
    for i, m in enumerate(mlp_widths(arch)):
        codes[i, 0] = attn_table[(heads[i], attn[i])]
        codes[i, 1] = mlp_table[(m, int(ffn[i]))]
    return int(arch.embed_dim), codes


# ---- slicing (shared by the forward pass and by extract) ----------------------------------


def slice_layer(
    layer: dict, *, E: int, H: int, M: int, mixer: str = "", hd: int = 0, num_ffn: int = 1
) -> dict:
    """Leading slices of ONE layer's supernet weights in the standalone Block layout.

    ``mixer``: the layer's mixer choice ('' = the default mixer); ``hd`` the head width (0: read
    from the attention weights); ``num_ffn`` the MLP's stacked hidden layers.
    """
    c = specs.get(mixer) if mixer else specs.default()
    hd = hd or layer["qkv"]["kernel"].shape[-1]
    out = {"ln1": {"scale": layer["ln1"]["scale"][:E], "bias": layer["ln1"]["bias"][:E]}}
    out.update(mixers.ops(c).slice(layer, E=E, H=H, hd=hd, opt=c.opt))
    out.update(slice_mlp(layer, E=E, M=M, num_ffn=num_ffn))
    return out


def slice_mlp(layer: dict, *, E: int, M: int, num_ffn: int = 1) -> dict:
    """The MLP's weights (``ln2``, ``fc1``, ``ffn1`` ..., ``fc2``) sliced to width E and M."""
    out = {
        "ln2": {"scale": layer["ln2"]["scale"][:E], "bias": layer["ln2"]["bias"][:E]},
        "fc1": {"kernel": layer["fc1"]["kernel"][:E, :M], "bias": layer["fc1"]["bias"][:M]},
        "fc2": {"kernel": layer["fc2"]["kernel"][:M, :E], "bias": layer["fc2"]["bias"][:E]},
    }
    for j in range(1, num_ffn):
        out[f"ffn{j}"] = {
            "kernel": layer["ffn"]["kernel"][j - 1, :M, :M],
            "bias": layer["ffn"]["bias"][j - 1, :M],
        }
    return out


def slice_globals(params: dict, *, E: int) -> dict:
    """Embedding, positions, final norm and head sliced to width E (standalone names; no head when tied)."""
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
    if "head" in params:
        out["head"] = {"kernel": params["head"]["kernel"][:E], "bias": params["head"]["bias"]}
    return out


# ---- forward ------------------------------------------------------------------------------


def _mixer_fn(geo: Geometry, E: int, H: int, key: str):
    """x + Mixer(LN1(x)) of the given mixer and heads, weights sliced to exactly (E, H)."""
    hd, causal, eps = geo.head_dim, geo.task.causal, geo.task.ln_eps
    c = specs.get(key)
    ops = mixers.ops(c)

    def run(x, layer, keep):
        ln1 = {"scale": layer["ln1"]["scale"][:E], "bias": layer["ln1"]["bias"][:E]}
        h = nn.LayerNorm(epsilon=eps).apply({"params": ln1}, x)
        p = ops.slice(layer, E=E, H=H, hd=hd, opt=c.opt)
        return x + mixers.run_sliced(ops, p, h, keep, H=H, hd=hd, causal=causal, opt=c.opt)

    return run


def _mlp_fn(geo: Geometry, E: int, M: int, n: int):
    """x + MLP(LN2(x)) of width M with n hidden layers, weights sliced to exactly (E, M)."""
    eps = geo.task.ln_eps

    def run(x, layer):
        p = slice_mlp(layer, E=E, M=M, num_ffn=n)
        h = nn.LayerNorm(epsilon=eps).apply({"params": p["ln2"]}, x)
        h = nn.gelu(nn.Dense(M).apply({"params": p["fc1"]}, h))  # tanh approximation (GPT-2's gelu_new)
        for j in range(1, n):
            h = nn.gelu(nn.Dense(M).apply({"params": p[f"ffn{j}"]}, h))
        return x + nn.Dense(E).apply({"params": p["fc2"]}, h)

    return run


def _branches(geo: Geometry, E: int) -> tuple[list, list]:
    """Mixer and MLP branches at width E, in code order (code 0 skips the sub-block)."""
    if geo.task.llama:
        attn = [llama.attn_fn(geo.task, E, h, k) for h, k in geo.attn_branches]
        mlp = [llama.mlp_fn(geo.task, E, m) for m in geo.mlp_widths(E)]
    else:
        attn = [_mixer_fn(geo, E, h, a) for h, a in geo.attn_branches]
        mlp = [_mlp_fn(geo, E, m, n) for m, n in geo.mlp_branches(E)]
    return [lambda x, layer, keep: x, *attn], [lambda x, layer: x, *mlp]


# the layer weights each sub-block of a Llama layer reads (attention, then MLP); a GPT
# layer's: Geometry.sub_keys (the mixers' weights depend on the space)


def apply_codes(
    params: dict, x: jax.Array, codes: jax.Array, ws: tuple | None = None, *, geo: Geometry, embed_dim: int
) -> jax.Array:
    """Forward pass of the subnet (embed_dim static, per-layer ``codes`` traced).

    x: images (B, H, W[, C]) or token ids (B, T) -> logits (B, C) (pooled) or (B, T, V).
    ``ws``: the layer stack's workspace (:func:`stack_workspace`; its cotangent is the filled
    workspace, for a training step that donates it) or None (zero-filled inside the step).
    """
    if not isinstance(geo, Geometry):  # staged: embed_dim is the tuple of stage widths
        from supernet import staged

        return staged.apply_codes(params, x, codes, ws, geo=geo, embed_dim=embed_dim, branches=_branches)
    E, tg = embed_dim, geo.task
    g = llama.slice_globals(params, E=E) if tg.llama else slice_globals(params, E=E)
    keep = standalone.padding_keep(x, tg)  # (B,T) bool (False at padding) or None
    if tg.llama:
        x = llama.embed(g, x)  # (B,T,E); rotary positions inside attention
    elif tg.lookup:
        x = nn.Embed(tg.in_dim, E).apply({"params": g["embed"]}, x)  # (B,T,E)
    else:
        x = standalone.patchify(x, patch=tg.patch_size, channels=tg.channels)  # (B,T,P)
        x = nn.Dense(E).apply({"params": g["embed"]}, x)  # (B,T,E)
    if not tg.llama:
        x = x + g["pos"][: x.shape[1]]
    attn_branches, mlp_branches = _branches(geo, E)

    # codes (L, 2) = (attention branch, MLP branch); 0 skips.  Only the active (leading)
    # layer slots run, forward and backward (supernet/layer_stack.py)
    stack = layer_stack([attn_branches, mlp_branches], geo.sub_keys, n_extra=[1, 0])
    x = stack(x, codes, params["layers"], (keep,), ws)
    if tg.llama:
        return llama.logits(g, x, tg)
    x = nn.LayerNorm(epsilon=tg.ln_eps).apply({"params": g["ln_f"]}, x)
    if tg.pooled:
        x = standalone.pool(x, keep)  # (B,E): mean over the non-padding tokens
    if tg.tied_head:
        return nn.Embed(tg.in_dim, E).apply({"params": g["embed"]}, x, method="attend")  # (B,T,V)
    return nn.Dense(tg.out_dim).apply({"params": g["head"]}, x)


def stack_workspace(geo: Geometry, embed_dim: int, x_shape: tuple[int, ...], *, dtype=jnp.float32) -> tuple:
    """Zero buffers of the layer stack's workspace (:func:`supernet.layer_stack.workspace`) for
    inputs of ``x_shape`` at width ``embed_dim``, for :func:`apply_codes`'s ``ws`` (``dtype``: the
    compute dtype of the layer activations; a staged geometry's workspace is float32)."""
    if not isinstance(geo, Geometry):  # staged: one workspace per stage
        from supernet import staged

        return staged.stack_workspace(geo, embed_dim, x_shape)
    tg = geo.task
    if tg.lookup:
        tokens = x_shape[1]
    else:
        patches = lambda x: standalone.patchify(x, patch=tg.patch_size, channels=tg.channels)  # noqa: E731
        tokens = jax.eval_shape(patches, jax.ShapeDtypeStruct(x_shape, jnp.float32)).shape[1]
    return workspace(len(geo.sub_keys), geo.max_depth, (x_shape[0], tokens, embed_dim), dtype)


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
    dims["embed_dim"] = max(geo.embed_choices)  # numbers: the largest choice, per layer or global
    return ArchConfig.make(depth=L, **dims)


def init(space: SearchSpace, key: jax.Array) -> dict:
    """Supernet weights: the largest standalone model's Flax init, restacked.

    Returns the params dict (no ``{"params": ...}`` wrapper).
    """
    if space.stages:  # a staged vision space (supernet.staged)
        from supernet import staged

        return staged.init(space, key, geo=geometry(space))
    geo = geometry(space)
    arch = largest_arch(space)
    L, E, Hm, hd = geo.max_depth, arch.embed_dim, max(geo.head_choices), geo.head_dim
    largest: dict[str, specs.Choice] = {}  # each mixer at its largest option
    for c in (specs.get(a) for a in geo.attn_choices):
        if c.spec.name not in largest or c.opt > largest[c.spec.name].opt:
            largest[c.spec.name] = c
    made = {
        n: c for n, c in largest.items() if mixers.ops(c).init is not None
    }  # made directly, not restacked
    every = tuple((c.key, Hm) for n, c in largest.items() if n not in made)
    model = standalone.build(space, arch, init_mixers=() if geo.task.llama else every)
    x = standalone.example_input(space, 1, seq_len=min(8, geo.tokens))  # shapes do not depend on T
    p = jax.jit(model.init)(key, x)["params"]  # the largest subnet's weights (every mixer's)
    if geo.task.llama:
        return llama.stack(p, L=L, H=Hm, K=max(geo.kv_choices or (Hm,)), hd=hd)
    blocks = [p[f"block{i}"] for i in range(L)]

    def stack(fn):
        return jax.tree.map(lambda *a: jnp.stack(a), *[fn(b) for b in blocks])

    layers = {
        "ln1": stack(lambda b: dict(b["ln1"])),
        "ln2": stack(lambda b: dict(b["ln2"])),
        "fc1": stack(lambda b: dict(b["fc1"])),
        "fc2": stack(lambda b: dict(b["fc2"])),
    }
    for name, c in largest.items():
        if name in made:
            key = jax.random.fold_in(key, len(layers))
            layers.update(mixers.ops(c).init(key, L=L, E=E, heads=geo.head_choices, hd=hd, opt=c.opt))
        else:
            layers.update(stack(lambda b, c=c: mixers.ops(c).stack(b, E=E, H=Hm, hd=hd, opt=c.opt)))
    n = max(geo.ffn_choices)
    if n > 1:
        layers["ffn"] = stack(
            lambda b: jax.tree.map(lambda *a: jnp.stack(a), *[dict(b[f"ffn{j}"]) for j in range(1, n)])
        )
    out = {"embed": dict(p["embed"]), "pos": p["pos"], "layers": layers, "ln_f": dict(p["ln_f"])}
    if "head" in p:
        out["head"] = dict(p["head"])
    return out
