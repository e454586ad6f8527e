"""Subnet samplers: pure functions of a PRNG key and an explicit, checkpointed state.

A sampler is a :class:`Sampler` NamedTuple of pure functions (optax style)::

    state = sampler.init(key)
    archs, state = sampler.sample(key, state, step)   # the subnets of one optimizer step
    state = sampler.update(state, archs, losses)      # feedback after the step
    sampler.describe(state)                           # JSON fields worth logging (e.g. the bin)

States are plain JSON data (dicts, lists, numbers, strings), so they go into
checkpoints as they are.  Same key, same state, same step: same archs.

* :func:`uniform` draws ``k`` subnets uniformly per dimension (SPOS, Guo et
  al., ECCV 2020).
* :func:`sandwich` trains the largest, the smallest and ``k`` random subnets
  (BigNAS, Yu et al., ECCV 2020; AttentiveNAS, Wang et al., CVPR 2021).
* :func:`supernet.complexity_sampling.complexity_aware` and
  :func:`~supernet.complexity_sampling.performance_aware` follow ElasticViT
  (Tang et al., ICCV 2023).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from search_spaces import ArchConfig, SearchSpace
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


def _no_update(state: SamplerState, archs: Sequence[ArchConfig], losses: Sequence[float]) -> SamplerState:
    return state


def _check_k(k: int, minimum: int = 1) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < minimum:
        raise NasError(f"field 'sampler.k': expected an integer >= {minimum}, got {k!r}")


def uniform(space: SearchSpace, *, k: int = 1) -> Sampler:
    """``k`` subnets per step, each dimension drawn uniformly (SPOS, Guo et al., 2020)."""
    _check_k(k)

    def init(key: jax.Array) -> SamplerState:
        return {}

    def sample(key: jax.Array, state: SamplerState, step: int):
        return space.sample_many(np_rng(key), k), state

    return Sampler(init, sample, _no_update)


def sandwich(space: SearchSpace, *, k: int = 2) -> Sampler:
    """Largest + smallest + ``k`` random subnets per step (the sandwich rule of BigNAS, Yu et al., 2020)."""
    _check_k(k, minimum=0)
    largest, smallest = space.largest(), space.smallest()

    def init(key: jax.Array) -> SamplerState:
        return {}

    def sample(key: jax.Array, state: SamplerState, step: int):
        return [largest, smallest, *space.sample_many(np_rng(key), k)], state

    return Sampler(init, sample, _no_update)


SAMPLERS = ("uniform", "sandwich", "complexity_aware", "performance_aware")


def make_sampler(name: str, space: SearchSpace, *, run_steps: int | None = None, **options: Any) -> Sampler:
    """A sampler by name (for configs): one of :data:`SAMPLERS`, with its keyword options.

    ``run_steps`` (the training run's length) becomes ``total_steps`` for a sampler
    whose schedule depends on it, unless the options set it."""
    import inspect

    from supernet import complexity_sampling

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
