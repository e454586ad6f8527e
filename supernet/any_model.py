"""The stand-alone model of any space's architecture: flat (:mod:`supernet.standalone`, Llama
included) or staged (:mod:`supernet.staged_standalone`).

Export, loading and latency measurement build through here; ``supernet.standalone`` cannot
dispatch to the staged model itself, which is made of its blocks (an import loop).
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax

from search_spaces import ArchConfig, SearchSpace
from supernet import staged, standalone


def build(space: SearchSpace, arch: ArchConfig) -> nn.Module:
    """The Flax module of ``arch`` (validated against ``space``)."""
    return staged.build(space, arch) if space.stages else standalone.build(space, arch)


def train_step(space: SearchSpace, arch: ArchConfig, tx) -> Callable:
    """:func:`supernet.standalone.train_step` of the model of ``arch`` (flat or staged)."""
    return standalone.train_step(space, arch, tx, module=build(space, arch))


def init(space: SearchSpace, arch: ArchConfig, key: jax.Array) -> dict:
    """Fresh parameters of the model: ``{"params": ...}``."""
    return build(space, arch).init(key, standalone.example_input(space))
