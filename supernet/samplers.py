"""Subnet samplers and the registry that builds one from a config.

Every sampler follows the contract of :mod:`supernet.sampler_api` (``init / sample /
update / describe``, pure functions of a PRNG key and a plain-JSON state).

* :func:`uniform` draws ``k`` subnets uniformly per dimension (SPOS, Guo et
  al., ECCV 2020).
* :func:`sandwich` trains the largest, the smallest and ``k`` random subnets
  (BigNAS, Yu et al., ECCV 2020; AttentiveNAS, Wang et al., CVPR 2021).
* :func:`supernet.complexity_sampling.complexity_aware` and
  :func:`~supernet.complexity_sampling.performance_aware` follow ElasticViT
  (Tang et al., ICCV 2023).
"""

from __future__ import annotations

import inspect
from typing import Any

import jax

from search_spaces import SearchSpace
from search_spaces.errors import NasError
from supernet import complexity_sampling
from supernet.sampler_api import Sampler, SamplerState, check_k, no_update, np_rng

__all__ = ["SAMPLERS", "Sampler", "SamplerState", "make_sampler", "sandwich", "uniform"]


def uniform(space: SearchSpace, *, k: int = 1) -> Sampler:
    """``k`` subnets per step, each dimension drawn uniformly (SPOS, Guo et al., 2020)."""
    check_k(k)

    def init(key: jax.Array) -> SamplerState:
        return {}

    def sample(key: jax.Array, state: SamplerState, step: int):
        return space.sample_many(np_rng(key), k), state

    return Sampler(init, sample, no_update)


def sandwich(space: SearchSpace, *, k: int = 2) -> Sampler:
    """Largest + smallest + ``k`` random subnets per step (the sandwich rule of BigNAS, Yu et al., 2020)."""
    check_k(k, minimum=0)
    largest, smallest = space.largest(), space.smallest()

    def init(key: jax.Array) -> SamplerState:
        return {}

    def sample(key: jax.Array, state: SamplerState, step: int):
        return [largest, smallest, *space.sample_many(np_rng(key), k)], state

    return Sampler(init, sample, no_update)


SAMPLERS = ("uniform", "sandwich", "complexity_aware", "performance_aware")


def make_sampler(name: str, space: SearchSpace, *, run_steps: int | None = None, **options: Any) -> Sampler:
    """A sampler by name (for configs): one of :data:`SAMPLERS`, with its keyword options.

    ``run_steps`` (the training run's length) becomes ``total_steps`` for a sampler
    whose schedule depends on it, unless the options set it."""
    factories = {
        "uniform": uniform,
        "sandwich": sandwich,
        "complexity_aware": complexity_sampling.complexity_aware,
        "performance_aware": complexity_sampling.performance_aware,
    }
    if name not in factories:
        raise NasError(f"field 'sampler.name' is {name!r}; choose one of {list(SAMPLERS)}")
    if run_steps is not None and "total_steps" in inspect.signature(factories[name]).parameters:
        options.setdefault("total_steps", run_steps)
    try:
        return factories[name](space, **options)
    except TypeError as e:
        raise NasError(f"field 'sampler': bad option for sampler {name!r} ({e})") from None
