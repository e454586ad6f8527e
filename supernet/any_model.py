"""The stand-alone model of any space's architecture: flat (:mod:`supernet.standalone`, Llama
included) or staged (:mod:`supernet.staged_standalone`).

Export, loading and latency measurement build through here; ``supernet.standalone`` cannot
dispatch to the staged model itself, which is made of its blocks (an import loop).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from search_spaces import ArchConfig, SearchSpace
from supernet import staged, standalone


def build(space: SearchSpace, arch: ArchConfig) -> nn.Module:
    """The Flax module of ``arch`` (validated against ``space``)."""
    return staged.build(space, arch) if space.stages else standalone.build(space, arch)


def init(space: SearchSpace, arch: ArchConfig, key: jax.Array) -> dict:
    """Fresh parameters of the model: ``{"params": ...}``."""
    return build(space, arch).init(key, standalone.example_input(space))
