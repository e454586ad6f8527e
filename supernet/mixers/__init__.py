"""Token mixers as plug-ins: the registry of their computations (:class:`MixerOps`).

Each mixer is declared twice, by name: its complexity, options and causality in
``search_spaces/mixers/<name>.py`` (JAX-free, read by complexity and the latency features)
and its weights and computation here, in ``supernet/mixers/<name>.py``.  The model, the
stand-alone module and extraction ask :func:`ops` and never compare a mixer's name.  See
docs/design.md, "Token mixers", for the contract and how to add one.
"""

from __future__ import annotations

import importlib

from search_spaces import mixers as specs
from search_spaces.errors import NasError
from supernet.mixers.api import MixerOps, Params, run_sliced

__all__ = ["MixerOps", "Params", "ops", "register", "run_sliced"]

_REGISTRY: dict[str, MixerOps] = {}


def register(name: str, mixer_ops: MixerOps) -> MixerOps:
    """Registers the computation of the mixer ``name`` (a name of :mod:`search_spaces.mixers`);
    a built-in mixer's ``OPS`` is found by name in ``supernet/mixers/<name>.py`` on first use."""
    _REGISTRY[name] = mixer_ops
    return mixer_ops


def ops(choice: specs.Choice) -> MixerOps:
    """The computation of a resolved mixer choice."""
    name = choice.spec.name
    if name not in _REGISTRY:
        try:
            module = importlib.import_module(f"supernet.mixers.{name}")
        except ModuleNotFoundError:
            raise NasError(f"field 'mixer': mixer {name!r} has no supernet implementation") from None
        _REGISTRY[name] = module.OPS
    return _REGISTRY[name]
