"""The JAX-free half of the token-mixer contract: what ``search_spaces`` and ``predictors`` read.

A *token mixer* is the operation of a layer's first sub-block (the one that lets tokens
exchange information; the MLP is the second).  Its declaration here is plain data and numpy
formulas, so complexity, validation and latency features work in a process that never
imports JAX; its computation (parameter layout, slicing, the supernet branch, the
stand-alone form) lives in the matching file of ``supernet/mixers/``.  See
:mod:`search_spaces.mixers` for the registry and docs/design.md ("Token mixers").
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

Array = np.ndarray


class Dims(NamedTuple):
    """The shape of the layers a formula is evaluated on: float arrays of shape (n, L) (0 in
    inactive slots) or plain floats.  ``K``: KV heads (= ``H`` outside grouped-query
    attention); ``opt``: the choice's option (a kernel, a bit count) or 0."""

    B: float
    T: float
    E: Array
    H: Array
    hd: float
    K: Array
    opt: int


def _zero(d: Dims) -> Array:
    return 0.0 * d.E


class MixerSpec(NamedTuple):
    """What a mixer declares for complexity, validation and latency features.

    Every formula takes :class:`Dims` and returns per-layer *counts* (params, MACs or float32
    values; the caller multiplies by 4 for bytes).  ``params`` excludes the layer's
    LayerNorm (counted by the caller).
    """

    name: str
    paper: str
    params: Callable[[Dims], Array]
    proj_macs: Callable[[Dims], Array]
    """MACs of the dense projections in and out of the mixer (``macs_attn_proj``)."""
    mix_macs: Callable[[Dims], Array]
    """MACs of the token mixing itself (``macs_attn_scores``)."""
    io: Callable[[Dims], Array]
    """Floats per token of the projected inputs the mixing reads (q/k/v: ``A + 2 K hd``)."""
    core: Callable[[Dims], Array]
    """Floats of the mixing's own intermediate (scores ``B H T T``, running sums ...)."""
    state: Callable[[Dims], Array]
    """Floats kept per sequence while decoding at context ``T``: KV cache or running state."""
    saved: Callable[[Dims], Array] = _zero
    """Floats a training step keeps for the backward pass, beyond the residual stream."""
    aliases: tuple[str, ...] = ()
    option: str = ""
    """Name of the integer option a choice may append (``kernel`` for ``dsc5``), or ''."""
    default_option: int = 0
    check_option: Callable[[int], str] = lambda v: ""
    """A reason the option value is unusable ('' when fine)."""
    causal: bool = True
    """The mixer has a causal form (it may serve a causal LM)."""
    uses_heads: bool = True
    """False for mixers the layer's ``num_heads`` does not change (one branch for all)."""
    columns: tuple[str, str, str, str] = ()
    """Latency-feature column names (MACs, bytes, layers, heads); () = ``*_mix_<key>``."""
    check_widths: Callable[[list, list], str] = lambda embeds, heads: ""
    """(embed_dim choices, num_heads choices) -> a reason the space's widths do not fit ('' when fine)."""


class Choice(NamedTuple):
    """A resolved mixer choice: the spec and its option (``dsc5`` -> dsc, 5)."""

    spec: MixerSpec
    opt: int

    @property
    def key(self) -> str:
        """The canonical name: the spec's name plus its option (``dsc5``, ``ecoformer16``)."""
        return f"{self.spec.name}{self.opt}" if self.spec.option else self.spec.name

    def columns(self) -> tuple[str, str, str, str]:
        if self.spec.columns:
            return self.spec.columns
        return tuple(f"{k}_mix_{self.key}" for k in ("macs", "bytes", "layers", "heads"))  # type: ignore[return-value]


def transform_spec(*, name: str, paper: str, passes: int) -> MixerSpec:
    """A parameter-free 2-D transform over tokens and channels computed as ``passes`` pairs of
    dense matrix products (``M_T X M_E``; the DFT's real part takes a cosine and a sine pair, the
    DCT one): ``passes B (T^2 E + T E^2)`` MACs, ``passes`` (B, T, E) intermediates, no weights,
    no causal form (every position mixes with every other)."""
    return MixerSpec(
        name=name,
        paper=paper,
        params=_zero,
        proj_macs=_zero,
        mix_macs=lambda d: passes * d.B * (d.T * d.T * d.E + d.T * d.E * d.E),
        io=_zero,
        core=lambda d: passes * d.B * d.T * d.E,
        state=_zero,
        saved=lambda d: passes * d.B * d.T * d.E,
        causal=False,
        uses_heads=False,
    )
