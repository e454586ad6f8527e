"""The part of a standalone transformer every block family shares (:mod:`supernet.standalone`'s
pre-LN blocks, :mod:`supernet.llama`'s RMSNorm/RoPE/SwiGLU blocks): the blocks in order, the
final norm, pooling for a pooled task, then the head (the embedding's transpose when tied);
and the fields of their model.

A module of its own so that the two families use it without importing each other.  Called
inside a Flax ``nn.compact`` method, the modules it makes belong to the caller, under the same
names as before (``block{i}``, ``head``), so existing checkpoints and bundles load unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax

from search_spaces import ArchConfig
from search_spaces.geometry import TaskGeometry


class StandaloneModel(nn.Module):
    """A transformer of one architecture ``arch`` for the task block ``task`` (a space's
    ``task`` dict): the fields every block family's model has."""

    arch: ArchConfig
    task: dict[str, Any]


def blocks_then_head(
    x: jax.Array,
    *,
    depth: int,
    block: Callable[[int], Callable[[jax.Array], jax.Array]],
    final_norm: Callable[[jax.Array], jax.Array],
    geo: TaskGeometry,
    embed: Any,
    head_bias: bool = True,
    pool: Callable[[jax.Array], jax.Array] | None = None,
) -> jax.Array:
    """``block(i)`` is layer ``i`` (a module named ``block{i}``) applied to (B, T, E); the
    result is the logits: (B, T, V) for a language model, (B, C) for a pooled classifier."""
    for i in range(depth):
        x = block(i)(x)
    x = final_norm(x)
    if pool is not None:
        x = pool(x)  # (B,E)
    if geo.tied_head:
        return embed.attend(x)  # (B,T,V) = x @ embedding^T, no bias
    return nn.Dense(geo.out_dim, use_bias=head_bias, name="head")(x)
