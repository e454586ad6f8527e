"""The JAX half of the token-mixer contract (the JAX-free half: :mod:`search_spaces.mixers`).

A mixer's file in ``supernet/mixers/`` exports ``OPS = MixerOps(...)``:

* ``keys``: the names of its weights in a layer (``qkv``, ``out`` ...), the same names in the
  stand-alone block and (stacked over layers) in the supernet; mixers that share a name
  share those weights in the supernet (softmax and linear attention share ``qkv``/``out``);
* ``forward(ctx, h, keep, *, H, hd, causal, opt)``: the stand-alone computation, ``h`` (B, T,
  E) normalized input -> (B, T, E) to add to the residual; it creates its weights by name
  through ``ctx`` (:class:`Params`) inside a Flax ``compact`` method, so the stand-alone
  model and the supernet branch run the very same code;
* ``stack(block, *, E, H, hd, opt)``: one layer of the largest stand-alone model's weights
  (its ``keys``) in the supernet's layout (leading axes sliceable);
* ``slice(layer, *, E, H, hd, opt)``: one supernet layer's weights sliced to a subnet's exact
  shapes, in the stand-alone layout (leading slices, no masks);
* ``init`` (optional): the supernet's weights made directly when no stand-alone model holds
  every largest shape (cascaded group attention: most heads, and widest heads at fewest).

The supernet's branch for a (heads, mixer) pair is ``slice`` then ``forward`` under a
parameter-less host module (:func:`run_sliced`); the stand-alone block calls ``forward`` in
its own scope, so the weights of a chosen subnet are exactly its stand-alone weights.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax


class MixerOps(NamedTuple):
    keys: tuple[str, ...]
    forward: Callable[..., jax.Array]
    stack: Callable[..., dict]
    slice: Callable[..., dict]
    init: Callable[..., dict] | None = None
    """``(key, *, L, E, heads, hd, opt) -> {name: (L, ...) array}``: the supernet's weights made
    directly, for a mixer whose largest shapes no single stand-alone model holds (``heads``:
    the space's head choices); None: restacked from the largest stand-alone model (``stack``)."""


class Params:
    """Weights created by name inside a Flax ``compact`` method, each once (a second request for
    the same name returns the same module or array, so mixers sharing weights can be
    initialized together in one block: :class:`supernet.standalone.Block`'s ``init_mixers``)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.made: dict[str, Any] = {}

    def dense(self, name: str, features: int, *, use_bias: bool = True) -> nn.Dense:
        if name not in self.made:
            self.made[name] = nn.Dense(features, use_bias=use_bias, name=name)
        return self.made[name]

    def param(
        self, name: str, shape: tuple[int, ...], init: Callable = nn.initializers.normal(0.02)
    ) -> jax.Array:
        if name not in self.made:
            self.made[name] = self.module.param(name, init, shape)
        return self.made[name]


class _Host(nn.Module):
    """A parameter-less scope that runs a mixer's ``forward`` on given (sliced) weights."""

    fn: Callable

    @nn.compact
    def __call__(self, h: jax.Array, keep: jax.Array | None) -> jax.Array:
        return self.fn(Params(self), h, keep)


def run_sliced(ops: MixerOps, params: dict, h: jax.Array, keep: jax.Array | None, **kw: Any) -> jax.Array:
    """``ops.forward`` on weights already in the stand-alone layout (``kw``: H, hd, causal, opt)."""
    fn = lambda ctx, h, keep: ops.forward(ctx, h, keep, **kw)  # noqa: E731
    return _Host(fn).apply({"params": params}, h, keep)
