"""Token mixers as plug-ins: the registry of their JAX-free declarations.

A layer is ``x + Mixer(LN1(x))`` then ``x + MLP(LN2(x))``; the *mixer* is searchable per
layer (dimension ``mixer``; ``attn_type`` is its old name and still works).  A choice is a
registered name or alias, optionally followed by the mixer's integer option: ``sdp``
(alias ``softmax``), ``linear``, ``dsc5`` (ConvBERT's dynamic convolution, kernel 5).

Each mixer is two files: ``search_spaces/mixers/<name>.py`` (this half: complexity
formulas, feature columns, option and causality rules: a :class:`MixerSpec`) and
``supernet/mixers/<name>.py`` (parameter layout, slicing, supernet branch, stand-alone
form).  No other file of the project names a mixer (``tests/test_mixers.py``).  The split
keeps ``search_spaces`` and ``predictors`` free of ``supernet`` (and of JAX): the
registry is filled here, at import, not by ``supernet`` (a registry filled by the supernet
would be empty in a process that never imported it).
"""

from __future__ import annotations

import re
from typing import Any

from search_spaces.errors import NasError
from search_spaces.mixers.api import Choice, Dims, MixerSpec

SearchSpace = Any  # a search_spaces.space.SearchSpace (not imported: this package sits below it)

__all__ = ["DIMS", "Choice", "Dims", "MixerSpec", "choices_of", "default", "get", "layer_mixers", "names"]

DIMS = ("mixer", "attn_type")
"""The names of the mixer dimension: ``mixer``, and ``attn_type``, its old name."""

_REGISTRY: dict[str, MixerSpec] = {}
_ORDER: list[MixerSpec] = []


def register(spec: MixerSpec) -> MixerSpec:
    """Registers ``spec`` under its name and aliases."""
    for n in (spec.name, *spec.aliases):
        _REGISTRY[n] = spec
    if spec not in _ORDER:
        _ORDER.append(spec)
    return spec


def names() -> list[str]:
    """The registered mixer names (aliases not included), in registration order."""
    return [s.name for s in _ORDER]


def specs() -> list[MixerSpec]:
    return list(_ORDER)


def default() -> Choice:
    """The mixer of a layer whose space has no mixer dimension (the first registered: ``sdp``)."""
    return Choice(_ORDER[0], 0)


def always() -> list[Choice]:
    """The mixers whose latency-feature columns every space has (the two of feature version 2)."""
    return [Choice(s, 0) for s in _ORDER[:2]]


_WITH_OPTION = re.compile(r"^([a-z_]*[a-z_])(\d+)$")


def get(choice: Any, *, field: str = "mixer", where: str = "") -> Choice:
    """The :class:`Choice` of a mixer choice string; a one-line NasError naming the field and
    the value (the known mixers listed) otherwise (prefixed by ``where``, e.g. the space)."""
    try:
        return _get(choice, field)
    except NasError as e:
        raise NasError(f"{where}: {e}" if where else str(e)) from None


def _get(choice: Any, field: str) -> Choice:
    if isinstance(choice, str) and choice in _REGISTRY:
        spec = _REGISTRY[choice]
        return Choice(spec, spec.default_option)
    m = _WITH_OPTION.match(choice) if isinstance(choice, str) else None
    if m and m.group(1) in _REGISTRY:
        spec, opt = _REGISTRY[m.group(1)], int(m.group(2))
        if not spec.option:
            raise NasError(f"field '{field}': mixer {spec.name!r} takes no option, got {choice!r}")
        reason = spec.check_option(opt)
        if reason:
            raise NasError(
                f"field '{field}': {choice!r}: mixer {spec.name!r} cannot use {spec.option} {opt} ({reason})"
            )
        return Choice(spec, opt)
    known = [f"{s.name}<{s.option}>" if s.option else s.name for s in _ORDER]
    raise NasError(f"field '{field}': unknown mixer {choice!r}; known mixers: {known}")


def mixer_dim(space: SearchSpace) -> str | None:
    """The name of the space's mixer dimension (``mixer`` or ``attn_type``), or None."""
    found = [d for d in DIMS if d in space.layer_dims or d in space.global_dims]
    if len(found) > 1:
        raise NasError(f"space '{space.name}': declare 'mixer' or its old name 'attn_type', not both")
    return found[0] if found else None


def choices_of(space: SearchSpace) -> list[Choice]:
    """The resolved choices of the space's mixer dimension, in declaration order ([default] when absent)."""
    dim = mixer_dim(space)
    if dim is None:
        return [default()]
    where = f"{'layer' if dim in space.layer_dims else 'global'}.{dim}"
    raw = space.layer_dims.get(dim, space.global_dims.get(dim))
    return [get(c, field=where, where=f"space '{space.name}'") for c in raw]


def check_space(space: SearchSpace, *, causal: bool) -> None:
    """Every mixer choice is known, its option usable, and causal when the space is."""
    dim = mixer_dim(space)
    if dim is None:
        return
    declared = space.layer_dims.get(dim, space.global_dims.get(dim))
    widths = [space.global_dims.get(d, space.layer_dims.get(d, ())) for d in ("embed_dim", "num_heads")]
    for c, raw in zip(choices_of(space), declared, strict=True):
        reason = c.spec.check_widths(*widths)
        if reason:
            where = f"{'layer' if dim in space.layer_dims else 'global'}.{dim}"
            raise NasError(f"space '{space.name}': field '{where}': mixer {raw!r}: {reason}")
        if causal and not c.spec.causal:
            where = f"{'layer' if dim in space.layer_dims else 'global'}.{dim}"
            ok = [s.name for s in _ORDER if s.causal]
            raise NasError(
                f"space '{space.name}': field '{where}': mixer {raw!r} has no causal form, and the task is causal "
                f"(causal mixers: {ok})"
            )


def layer_mixers(arch: Any) -> tuple[str, ...]:
    """The mixer choice of each layer of an ArchConfig (as written), the default when it has none."""
    for d in DIMS:
        if d in arch:
            return arch.per_layer(d)
    return (default().spec.name,) * arch.depth


def arch_choices(arch: Any) -> list[Choice]:
    """The resolved mixer of each layer of an ArchConfig."""
    return [get(c, field=f"mixer[{i}]") for i, c in enumerate(layer_mixers(arch))]


BUILTIN = ("sdp", "linear", "wma", "dft", "dct", "dsc", "ecoformer", "cga")
"""The built-in mixers, in registration order (the first is the default; the first two have
fixed latency-feature columns); each is ``search_spaces/mixers/<name>.py`` exporting ``SPEC``."""


def _register_builtins() -> None:
    import importlib

    for name in BUILTIN:
        register(importlib.import_module(f"search_spaces.mixers.{name}").SPEC)


_register_builtins()
