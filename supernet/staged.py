"""The staged weight-sharing supernet: a subnet's stages run at exact shapes, no masking.

A staged space (:mod:`search_spaces.stages`) runs as the flat supernet does
(:mod:`supernet.model`), stage by stage:

* the *widths* of all stages are static: one compiled program per tuple of stage widths
  (``prod(len(stage.embed_dim choices))``, e.g. 8 for ``vit-resnas-tiny``), compiled lazily
  when a subnet with that tuple first runs and cached by ``jax.jit`` (the tuple is the
  ``embed_dim`` static argument of :func:`apply_codes`);
* each stage's layers run in :func:`supernet.layer_stack.layer_stack` (a ``while`` loop over
  the stage's active slots only, forward and backward, so an empty slot costs nothing), each
  layer picking with ``lax.switch`` on a traced code the exact-shape branch of its choice:
  a transformer layer reuses the flat supernet's attention and MLP branches
  (``supernet.model._branches`` over a per-stage :class:`supernet.model.Geometry`), an
  MBConv layer one branch per (kernel, expansion) pair (:mod:`supernet.stage_ops`);
* windowed stages run their whole stack on the partitioned ``(B * nW, window^2, E)`` tokens
  (the MLP is per token, so only attention sees the windows); reductions and the head are
  static (their shapes follow from the width tuple).

The per-layer codes of all stages are one ``(sum of stage slots, 2)`` int32 array
(:func:`encode_arch`): transformer (attention, MLP) branch, or (MBConv branch, 0); 0 skips.

Parameter layout: ``embed``, ``pos`` (T_0, E_0max), ``stage<s>`` (the stage's layers stacked
over its slots: the flat supernet's layer layout for a transformer stage, the MBConv layout
of :mod:`supernet.stage_ops` otherwise), ``reduce<s>`` (at the largest widths), ``ln_f`` and
``head``.  :func:`extract` slices it into :class:`supernet.staged_standalone.StagedViT`'s tree
with the same slicing functions the forward pass uses.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces import mixers as specs
from search_spaces.errors import NasError
from search_spaces.geometry import TaskGeometry, geometry_of_task
from search_spaces.stages import Stage, StageArch, hidden_width, resolve, stage_dims
from supernet import mixers
from supernet.layer_stack import layer_stack, workspace
from supernet.stage_ops import MBConv, Reduction, partition, slice_mbconv, slice_reduction, unpartition
from supernet.standalone import patchify

MBCONV_KEYS = (("ln", "expand", "dw", "project"),)


class StagedGeometry(NamedTuple):
    """Static facts of a staged space (hashable): the task, its stages, and per transformer
    stage the flat supernet geometry whose branches the stage's layers run (None for MBConv)."""

    task: TaskGeometry
    stages: tuple[Stage, ...]
    blocks: tuple[Any, ...]

    @property
    def tokens(self) -> int:
        return self.task.tokens

    @property
    def out_dim(self) -> int:
        return self.task.out_dim

    def mbconv_branches(self, s: int) -> tuple[tuple[int, Any], ...]:
        """(kernel, expansion ratio) of stage ``s``'s MBConv codes 1, 2, ...; 0 skips."""
        st = self.stages[s]
        return tuple((int(k), r) for k in st.choices("kernel_size") for r in st.choices("expand_ratio"))


def geometry(space: SearchSpace, *, flat: Callable) -> StagedGeometry:
    """The supernet geometry of a staged space; a one-line error naming what cannot be built.

    ``flat``: :class:`supernet.model.Geometry` (passed in, as :mod:`supernet.model` calls this
    module: an import back would be a loop)."""
    searched_only = set(space.task.get("searched_only") or [])
    own = stage_dims(space.stages)
    for name in space.global_dims:
        if name not in own and name not in searched_only:
            raise NasError(
                f"space '{space.name}': the staged supernet does not implement dimension '{name}'; "
                "list it in task.searched_only to search it without the supernet"
            )
    tg = geometry_of_task(space.task, where=f"space '{space.name}'")
    if not tg.pooled or tg.lookup:
        raise NasError(f"space '{space.name}': field 'task.stages': stages need an image classifier")
    blocks = []
    for st in space.stages:
        if st.block != "transformer":
            blocks.append(None)
            continue
        blocks.append(
            flat(
                task=tg,
                max_depth=st.max_depth,
                embed_choices=tuple(sorted(st.widths)),
                head_choices=tuple(sorted(st.choices("num_heads"))),
                mlp_choices=tuple(sorted(st.choices("mlp_dim"))),
                mlp_ratios=(),
                attn_choices=stage_mixers(st),
            )
        )
    return StagedGeometry(task=tg, stages=tuple(space.stages), blocks=tuple(blocks))


def stage_mixers(st: Stage) -> tuple[str, ...]:
    """The canonical keys of a transformer stage's mixer choices (the default mixer, sdp
    attention, when the stage declares none), in declaration order."""
    raw = dict(st.layer_choices).get("mixer", (specs.default().key,))
    return tuple(dict.fromkeys(specs.get(m).key for m in raw))


def layer_mixers(sub: StageArch) -> tuple[specs.Choice, ...]:
    """The resolved mixer of each active layer of one stage of an architecture."""
    raw = dict(sub.layers).get("mixer", (specs.default().key,) * sub.depth)
    return tuple(specs.get(m) for m in raw)


def encode_arch(geo: StagedGeometry, arch: ArchConfig) -> tuple[tuple[int, ...], np.ndarray]:
    """(tuple of stage widths, codes (sum of stage slots, 2) int32; 0 = skip)."""
    subs = resolve(geo.stages, arch)
    codes = np.zeros((sum(st.max_depth for st in geo.stages), 2), np.int32)
    off = 0
    for s, (st, sub) in enumerate(zip(geo.stages, subs, strict=True)):
        if st.block == "transformer":
            flat = geo.blocks[s]
            attn = {b: i + 1 for i, b in enumerate(flat.attn_branches)}
            widths = flat.mlp_widths(sub.width)
            layers = zip(sub.get("num_heads"), sub.get("mlp_dim"), layer_mixers(sub), strict=True)
            for i, (h, m, c) in enumerate(layers):
                codes[off + i] = (attn[(int(h) if c.spec.uses_heads else 0, c.key)], widths.index(int(m)) + 1)
        else:
            table = {b: i + 1 for i, b in enumerate(geo.mbconv_branches(s))}
            for i, (k, r) in enumerate(zip(sub.get("kernel_size"), sub.get("expand_ratio"), strict=True)):
                codes[off + i, 0] = table[(int(k), r)]
        off += st.max_depth
    return tuple(sub.width for sub in subs), codes


def _mbconv_fn(E: int, N: int, k: int, grid: tuple[int, int], eps: float):
    """One MBConv layer with its weights sliced to exactly (E, N, k)."""

    def run(x, layer):
        return MBConv(hidden=N, kernel=k, grid=grid, ln_eps=eps).apply(
            {"params": slice_mbconv(layer, E=E, N=N, k=k)}, x
        )

    return run


def _stage_shape(st: Stage, B: int, E: int) -> tuple[int, int, int]:
    """The shape the stage's layer stack runs on: (B, T, E), or (B * nW, window^2, E)."""
    T = st.grid[0] * st.grid[1]
    if st.window:
        return (B * T // st.window**2, st.window**2, E)
    return (B, T, E)


def apply_codes(
    params: dict,
    x: jax.Array,
    codes: jax.Array,
    ws: tuple | None = None,
    *,
    geo: StagedGeometry,
    embed_dim,
    branches: Callable,
) -> jax.Array:
    """Forward pass of a staged subnet: images (B, H, W[, C]) -> logits (B, C).

    ``embed_dim`` is the static tuple of stage widths, ``codes`` the traced per-layer codes
    (:func:`encode_arch`), ``ws`` the per-stage layer-stack workspaces (:func:`stack_workspace`)
    or None.  ``branches(flat_geo, E)``: the flat supernet's transformer-layer branches
    (:func:`supernet.model._branches`)."""
    widths, tg = tuple(embed_dim), geo.task
    E0 = widths[0]
    x = patchify(x, patch=tg.patch_size, channels=tg.channels)  # (B,T0,P)
    embed = {"kernel": params["embed"]["kernel"][:, :E0], "bias": params["embed"]["bias"][:E0]}
    x = nn.Dense(E0).apply({"params": embed}, x) + params["pos"][:, :E0]  # (B,T0,E0)
    off = 0
    for s, st in enumerate(geo.stages):
        E, L = widths[s], st.max_depth
        c = codes[off : off + L]
        off += L
        w = None if ws is None else ws[s]
        if st.block == "transformer":
            if st.window:
                x = partition(x, st.grid, st.window)
            attn, mlp = branches(geo.blocks[s], E)
            x = layer_stack([attn, mlp], geo.blocks[s].sub_keys, n_extra=[1, 0])(
                x, c, params[f"stage{s}"], (None,), w
            )
            if st.window:
                x = unpartition(x, st.grid, st.window)
        else:
            mb = [lambda x, layer: x]
            mb += [
                _mbconv_fn(E, hidden_width(E, r), k, st.grid, tg.ln_eps) for k, r in geo.mbconv_branches(s)
            ]
            x = layer_stack([mb], MBCONV_KEYS, n_extra=[0])(x, c[:, :1], params[f"stage{s}"], (), w)
        if st.reduction:
            F = widths[s + 1]
            red = Reduction(kind=st.reduction, width=F, grid=st.grid, head_dim=tg.head_dim, ln_eps=tg.ln_eps)
            x = red.apply({"params": slice_reduction(params[f"reduce{s}"], E=E, F=F)}, x)  # (B,T/4,F)
    g = _slice_out(params, widths[-1])
    x = nn.LayerNorm(epsilon=tg.ln_eps).apply({"params": g["ln_f"]}, x)
    return nn.Dense(tg.out_dim).apply({"params": g["head"]}, x.mean(axis=1))  # (B,C)


def _slice_out(params: dict, E: int) -> dict:
    return {
        "ln_f": {"scale": params["ln_f"]["scale"][:E], "bias": params["ln_f"]["bias"][:E]},
        "head": {"kernel": params["head"]["kernel"][:E], "bias": params["head"]["bias"]},
    }


def stack_workspace(geo: StagedGeometry, embed_dim, x_shape: tuple[int, ...]) -> tuple:
    """Per stage, zero buffers of its layer stack's workspace for inputs of ``x_shape``."""
    B = x_shape[0]
    return tuple(
        workspace(2 if st.block == "transformer" else 1, st.max_depth, _stage_shape(st, B, E))
        for st, E in zip(geo.stages, tuple(embed_dim), strict=True)
    )


# ---- the largest model, initialization and extraction --------------------------------------


def largest_arch(space: SearchSpace) -> ArchConfig:
    """Every stage at its largest depth, width and per-layer choices."""
    return ArchConfig.make(depth=0, **{d.name: d.largest() for d in space.global_dimensions})


def build(space: SearchSpace, arch: ArchConfig) -> nn.Module:
    from supernet.staged_standalone import StagedViT

    space.validate(arch)
    return StagedViT(arch=arch, stages=tuple(space.stages), geo=geometry_of_task(space.task))


def _largest_mixers(st: Stage) -> dict[str, specs.Choice]:
    """Each mixer of a transformer stage at its largest option (as :func:`supernet.model.init`)."""
    largest: dict[str, specs.Choice] = {}
    for c in map(specs.get, stage_mixers(st)):
        if c.spec.name not in largest or c.opt > largest[c.spec.name].opt:
            largest[c.spec.name] = c
    return largest


def init_mixers(stages: tuple[Stage, ...]) -> tuple[tuple[tuple[str, int], ...], ...]:
    """Per stage, the (mixer, heads) pairs whose weights the largest stand-alone model's blocks
    also create (every mixer restacked rather than made directly, at the most heads)."""
    out = []
    for st in stages:
        if st.block != "transformer":
            out.append(())
            continue
        hm = max(st.choices("num_heads"))
        out.append(tuple((c.key, hm) for c in _largest_mixers(st).values() if mixers.ops(c).init is None))
    return tuple(out)


def _stack_transformer(blocks: list[dict], st: Stage, hd: int, key: jax.Array) -> dict:
    """Standalone Blocks (largest shapes, every mixer's weights) restacked into the flat
    supernet's layer layout, mixers with their own ``init`` made directly (as
    :func:`supernet.model.init` does)."""
    E, H = max(st.widths), max(st.choices("num_heads"))

    def stack(fn):
        return jax.tree.map(lambda *a: jnp.stack(a), *[fn(b) for b in blocks])

    layers = {k: stack(lambda b, k=k: dict(b[k])) for k in ("ln1", "ln2", "fc1", "fc2")}
    for c in _largest_mixers(st).values():
        ops = mixers.ops(c)
        if ops.init is not None:
            key = jax.random.fold_in(key, len(layers))
            heads = tuple(sorted(st.choices("num_heads")))
            layers.update(ops.init(key, L=len(blocks), E=E, heads=heads, hd=hd, opt=c.opt))
        else:
            layers.update(stack(lambda b, ops=ops, c=c: ops.stack(b, E=E, H=H, hd=hd, opt=c.opt)))
    return layers


def init(space: SearchSpace, key: jax.Array, *, geo: StagedGeometry) -> dict:
    """Supernet weights: the largest standalone staged model's Flax init, restacked per stage."""
    from supernet.staged_standalone import StagedViT

    x = jnp.zeros((1, *geo.task.image_hw, geo.task.channels), jnp.float32)
    net = StagedViT(
        arch=largest_arch(space), stages=geo.stages, geo=geo.task, init_mixers=init_mixers(geo.stages)
    )
    p = jax.jit(net.init)(key, x)["params"]
    out = {k: p[k] for k in ("embed", "pos", "ln_f", "head")}
    for s, st in enumerate(geo.stages):
        blocks = [p[f"s{s}_block{i}"] for i in range(st.max_depth)]
        if st.block == "transformer":
            out[f"stage{s}"] = _stack_transformer(
                blocks, st, geo.task.head_dim, jax.random.fold_in(key, 1000 + s)
            )
        else:
            out[f"stage{s}"] = jax.tree.map(lambda *a: jnp.stack(a), *blocks)
        if st.reduction:
            out[f"reduce{s}"] = p[f"reduce{s}"]
    return out


def extract(params: dict, arch: ArchConfig, *, space: SearchSpace, slice_layer: Callable) -> dict:
    """``{"params": tree}`` of :func:`build`'s model of ``arch``, sliced from the supernet
    (``slice_layer``: :func:`supernet.model.slice_layer`, the flat layer's slicing)."""
    space.validate(arch)
    geo = StagedGeometry(task=geometry_of_task(space.task), stages=tuple(space.stages), blocks=())
    subs = resolve(geo.stages, arch)
    E0 = subs[0].width
    out = {
        "embed": {"kernel": params["embed"]["kernel"][:, :E0], "bias": params["embed"]["bias"][:E0]},
        "pos": params["pos"][:, :E0],
        **_slice_out(params, subs[-1].width),
    }
    for s, (st, sub) in enumerate(zip(geo.stages, subs, strict=True)):
        E = sub.width
        for i in range(sub.depth):
            layer = jax.tree.map(lambda w, i=i: w[i], params[f"stage{s}"])
            if st.block == "transformer":
                H, M = int(sub.get("num_heads")[i]), int(sub.get("mlp_dim")[i])
                c = layer_mixers(sub)[i]
                out[f"s{s}_block{i}"] = slice_layer(layer, E=E, H=H, M=M, mixer=c.key, hd=geo.task.head_dim)
            else:
                k, r = int(sub.get("kernel_size")[i]), sub.get("expand_ratio")[i]
                out[f"s{s}_block{i}"] = slice_mbconv(layer, E=E, N=hidden_width(E, r), k=k)
        if st.reduction:
            out[f"reduce{s}"] = slice_reduction(params[f"reduce{s}"], E=E, F=subs[s + 1].width)
    return {"params": jax.tree.map(lambda w: jnp.array(w), out)}
