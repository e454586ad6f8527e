"""The supernet's layer stack that visits only a subnet's active layers, forward and backward.

A subnet of depth ``d`` uses the leading ``d`` of the supernet's ``L`` layer slots.  A
``lax.scan`` over all ``L`` slots (the earlier design) makes a shallow subnet pay for the
empty ones: every slot is a loop iteration with its ``switch``, and its backward pass writes
a full-size zero gradient of the slot's weights.  Here the depth is a traced number read
from the codes (one compiled program serves every depth) and:

* the forward pass is a ``while`` loop over the ``d`` active slots;
* the backward pass is a custom VJP (``jax.custom_vjp``): a ``while`` loop over the same
  slots in reverse, whose body runs, with ``lax.switch`` on the slot's code, the *VJP of
  the chosen branch only* (each branch recomputes its own forward inside, as the
  rematerialized branches did: the forward saves just each active slot's input and the
  attention sub-block's output).  The stacked weight gradient starts as zeros and each
  active slot writes its own slice in place, so an empty slot costs nothing per step.

The gradient is the same function as before: exactly zero for the slots the subnet does
not use, so the optimizer semantics are unchanged (AdamW still sees the whole supernet's
gradient; see docs/design.md).

A layer is two sub-blocks, each a list of branches (code 0: the identity) that read only
their own keys of the layer's weights (``sub_keys``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

Branch = Callable[..., jax.Array]  # (x, weights, *extra) -> x of the same shape


def _at(tree, i):
    return jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, i, keepdims=False), tree)


def _put(tree, i, part):
    return jax.tree.map(lambda a, p: jax.lax.dynamic_update_index_in_dim(a, p, i, 0), tree, part)


def _vjp_branch(f: Branch, n_extra: int) -> Callable:
    """``(x, weights, *extra, g) -> (dx, dweights)`` of one branch (recomputing its forward)."""

    def run(x, w, *rest):
        extra, g = rest[:n_extra], rest[n_extra]
        _, pull = jax.vjp(lambda x, w: f(x, w, *extra), x, w)
        return pull(g)

    return run


def layer_stack(
    branches: Sequence[Sequence[Branch]], sub_keys: Sequence[Sequence[str]], n_extra: Sequence[int]
) -> Callable:
    """``run(x, codes, layers, extra) -> x`` through the active layers (``codes[:, 0] > 0``, leading).

    ``branches[s]`` are sub-block ``s``'s branches (index = code, 0 the identity), called as
    ``branch(x, weights_of(sub_keys[s]), *extra[: n_extra[s]])``; ``codes`` (L, S) int32;
    ``layers`` the stacked (L, ...) weights; ``extra`` a tuple of non-differentiable inputs
    (e.g. the padding mask)."""
    vjps = [[_vjp_branch(f, k) for f in bs] for bs, k in zip(branches, n_extra, strict=True)]

    def parts(layer):
        return [{k: layer[k] for k in keys} for keys in sub_keys]

    def depth(codes):
        return jnp.sum(codes[:, 0] > 0)

    def forward(x, codes, layers, extra, save: bool):
        L = codes.shape[0]
        bufs = [jnp.zeros((L, *x.shape), x.dtype) for _ in branches] if save else []

        def body(i, carry):
            x, bufs = carry
            ws = parts(_at(layers, i))
            for s, (bs, w, k) in enumerate(zip(branches, ws, n_extra, strict=True)):
                if save:
                    bufs = [*bufs[:s], jax.lax.dynamic_update_index_in_dim(bufs[s], x, i, 0), *bufs[s + 1 :]]
                x = jax.lax.switch(codes[i, s], list(bs), x, w, *extra[:k])
            return x, bufs

        return jax.lax.fori_loop(0, depth(codes), body, (x, bufs))

    @jax.custom_vjp
    def run(x, codes, layers, extra):
        return forward(x, codes, layers, extra, save=False)[0]

    def run_fwd(x, codes, layers, extra):
        y, bufs = forward(x, codes, layers, extra, save=True)
        return y, (bufs, codes, layers, extra)

    def run_bwd(res, g):
        bufs, codes, layers, extra = res
        n = depth(codes)

        def body(j, carry):
            g, grads = carry
            i = n - 1 - j
            ws = parts(_at(layers, i))
            got = {}
            for s in reversed(range(len(branches))):
                x_in = jax.lax.dynamic_index_in_dim(bufs[s], i, keepdims=False)
                g, dw = jax.lax.switch(codes[i, s], vjps[s], x_in, ws[s], *extra[: n_extra[s]], g)
                got.update(dw)
            return g, _put(grads, i, got)

        zeros = jax.tree.map(jnp.zeros_like, layers)
        gx, grads = jax.lax.fori_loop(0, n, body, (g, zeros))
        return gx, None, grads, jax.tree.map(lambda _: None, extra)

    run.defvjp(run_fwd, run_bwd)
    return run
