"""The sampler contract shared by every subnet sampler (optax style: a NamedTuple of pure functions).

A sampler is a :class:`Sampler`::

    state = sampler.init(key)
    archs, state = sampler.sample(key, state, step)   # the subnets of one optimizer step
    state = sampler.update(state, archs, losses)      # feedback after the step
    sampler.describe(state)                           # JSON fields worth logging (e.g. the bin)

States are plain JSON data (dicts, lists, numbers, strings), so they go into
checkpoints as they are.  Same key, same state, same step: same archs.  The
samplers themselves live in :mod:`supernet.samplers` (uniform, sandwich, and the
registry :func:`~supernet.samplers.make_sampler`) and
:mod:`supernet.complexity_sampling` (ElasticViT's binned samplers); both import
this module and neither imports the other's internals.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from search_spaces import ArchConfig
from search_spaces.errors import NasError

SamplerState = Any  # plain JSON data


def describe_nothing(state: SamplerState) -> dict[str, Any]:
    return {}


class Sampler(NamedTuple):
    """``init(key) -> state``; ``sample(key, state, step) -> (archs, state)``;
    ``update(state, archs, losses) -> state``; ``describe(state) -> dict`` of what the
    trainer logs (the trainer never reads a state itself)."""

    init: Callable[[jax.Array], SamplerState]
    sample: Callable[[jax.Array, SamplerState, int], tuple[list[ArchConfig], SamplerState]]
    update: Callable[[SamplerState, Sequence[ArchConfig], Sequence[float]], SamplerState]
    describe: Callable[[SamplerState], dict[str, Any]] = describe_nothing


def np_rng(key: jax.Array) -> np.random.Generator:
    """A numpy Generator seeded by a JAX PRNG key (typed or raw uint32)."""
    data = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng(np.asarray(data, dtype=np.uint32).ravel().tolist())


def no_update(state: SamplerState, archs: Sequence[ArchConfig], losses: Sequence[float]) -> SamplerState:
    """The ``update`` of a sampler that learns nothing from the losses."""
    return state


def check_k(k: int, minimum: int = 1) -> None:
    """``sampler.k`` (subnets per step) must be an integer >= ``minimum``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < minimum:
        raise NasError(f"field 'sampler.k': expected an integer >= {minimum}, got {k!r}")
