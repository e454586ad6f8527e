"""Standalone weights of one subnet, sliced from the supernet.

``extract(params, arch)`` returns ``{"params": ...}`` for
:func:`supernet.standalone.build` of exactly ``arch``; the standalone model's
outputs equal the supernet's outputs for that arch (tested to 1e-5).  It uses
the same slicing functions as the supernet's forward pass.
"""

from __future__ import annotations

import jax

from search_spaces import ArchConfig, SearchSpace
from search_spaces import mixers as specs
from supernet import llama
from supernet.model import geometry, slice_globals, slice_layer
from supernet.widths import mlp_widths


def extract(params: dict, arch: ArchConfig, *, space: SearchSpace | None = None) -> dict:
    """``{"params": tree}`` of the plain model of ``arch`` (names as in supernet.standalone).

    ``space`` (optional) validates ``arch`` first; slicing itself needs only the weights.
    """
    if space is not None and space.stages:  # a staged vision space (supernet.staged)
        from supernet import staged

        return staged.extract(params, arch, space=space, slice_layer=slice_layer)
    hd = 0  # read from the attention weights when no space is given
    if space is not None:
        space.validate(arch)
        hd = geometry(space).head_dim
    E = int(arch.embed_dim)
    is_llama = "q" in params["layers"]  # the Llama layout (supernet.llama)
    out = llama.slice_globals(params, E=E) if is_llama else slice_globals(params, E=E)
    mlp, mixer, ffn = mlp_widths(arch), specs.layer_mixers(arch), arch.per_layer("num_ffn", 1)
    if is_llama:
        llama.check_grouping(arch)
    for i in range(arch.depth):
        layer = jax.tree.map(lambda w, i=i: w[i], params["layers"])
        H = int(arch.num_heads[i])
        if is_llama:
            out[f"block{i}"] = llama.slice_layer(layer, E=E, H=H, K=llama.kv_heads(arch)[i], M=mlp[i])
        else:
            out[f"block{i}"] = slice_layer(layer, E=E, H=H, M=mlp[i], mixer=mixer[i], hd=hd, num_ffn=ffn[i])
    return {"params": jax.tree.map(lambda w: jax.numpy.array(w), out)}
