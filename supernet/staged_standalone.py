"""The plain (non-elastic) staged vision model of one architecture, in Flax linen.

What a staged subnet becomes (extraction slices the supernet into exactly this tree; export
and latency measurement run it).  Top to bottom, for a stage list of
:mod:`search_spaces.stages` (shapes: B batch, T_s = h_s * w_s tokens of stage s, E_s its
width)::

  patches (B, T_0, P) -> embed Dense -> (B, T_0, E_0) + pos (T_0, E_0)
  for each stage s:
    transformer: [partition into window^2 mask units] -> s<s>_block<i> (supernet.standalone.Block,
                 the layer's token mixer, sdp attention by default) for its depth -> [unpartition]
    mbconv:      s<s>_block<i> (supernet.stage_ops.MBConv) for its depth
    reduce<s> (supernet.stage_ops.Reduction): (B, T_s, E_s) -> (B, T_s / 4, E_{s+1})
  ln_f (LayerNorm) -> mean over tokens -> head Dense -> (B, C)

Parameter names: ``embed``, ``pos``, ``s<s>_block<i>``, ``reduce<s>``, ``ln_f``, ``head``;
:mod:`search_spaces.stage_complexity` counts exactly these parameters.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from search_spaces import ArchConfig
from search_spaces import mixers as specs
from search_spaces.geometry import TaskGeometry
from search_spaces.stages import Stage, hidden_width, resolve
from supernet.stage_ops import MBConv, Reduction, partition, unpartition
from supernet.standalone import Block, patchify


class StagedViT(nn.Module):
    """A multi-stage vision classifier of one architecture (the module docstring's layout)."""

    arch: ArchConfig
    stages: tuple[Stage, ...]  # search_spaces.stages.parse_stages of the task block
    geo: TaskGeometry
    init_mixers: tuple = ()  # per stage, (mixer, heads) pairs its blocks also create (supernet init)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        geo, stages = self.geo, self.stages
        subs = resolve(stages, self.arch)
        x = patchify(x, patch=geo.patch_size, channels=geo.channels)  # (B,T0,P)
        x = nn.Dense(subs[0].width, name="embed")(x)  # (B,T0,E0)
        x = x + self.param("pos", nn.initializers.normal(0.02), (x.shape[1], subs[0].width))
        for s, (st, sub) in enumerate(zip(stages, subs, strict=True)):
            if st.block == "transformer":
                if st.window:
                    x = partition(x, st.grid, st.window)  # (B*nW, window^2, E)
                heads, mlp = sub.get("num_heads"), sub.get("mlp_dim")
                mixer = dict(sub.layers).get("mixer", (specs.default().key,) * sub.depth)
                for i in range(sub.depth):
                    x = Block(
                        num_heads=int(heads[i]),
                        head_dim=geo.head_dim,
                        mlp_dim=int(mlp[i]),
                        mixer=mixer[i],
                        causal=False,
                        ln_eps=geo.ln_eps,
                        init_mixers=self.init_mixers[s] if self.init_mixers else (),
                        name=f"s{s}_block{i}",
                    )(x)
                if st.window:
                    x = unpartition(x, st.grid, st.window)  # (B, T_s, E)
            else:
                kernels, ratios = sub.get("kernel_size"), sub.get("expand_ratio")
                for i in range(sub.depth):
                    x = MBConv(
                        hidden=hidden_width(sub.width, ratios[i]),
                        kernel=int(kernels[i]),
                        grid=st.grid,
                        ln_eps=geo.ln_eps,
                        name=f"s{s}_block{i}",
                    )(x)
            if st.reduction:
                x = Reduction(
                    kind=st.reduction,
                    width=subs[s + 1].width,
                    grid=st.grid,
                    head_dim=geo.head_dim,
                    ln_eps=geo.ln_eps,
                    name=f"reduce{s}",
                )(x)
        x = nn.LayerNorm(epsilon=geo.ln_eps, name="ln_f")(x)
        return nn.Dense(geo.out_dim, name="head")(x.mean(axis=1))  # (B,C)
