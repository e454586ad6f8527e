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

The saved sub-block inputs live in a *workspace*, one ``(L, *x.shape)`` buffer per
sub-block (:func:`workspace`).  Passed as ``ws``, the forward writes into it and the
backward returns it, filled, as ``ws``'s cotangent, so a training step that differentiates
w.r.t. ``ws`` and donates it reuses the same memory every step instead of zero-filling
fresh buffers (about 3 % of a 1-layer vit-mnist subnet's step).  Without ``ws`` the
buffers are zero-filled inside the step; outputs and gradients are the same.

Saving the branches' middle values too (the MLP's pre-activation, the QKV projection) to
skip their recompute was measured slower: a value written inside the ``switch`` makes XLA
copy the whole buffer per branch, and one padded to the widest branch and written outside
moves more memory than the matmul it saves (vit-mnist, E=64).

The gradient is the same function as before: exactly zero for the slots the subnet does
not use, so the optimizer semantics are unchanged (AdamW still sees the whole supernet's
gradient; see docs/design.md).

A layer is a sequence of sub-blocks (attention, MLP), each a list of branches (code 0:
the identity) that get the slot's whole layer dict but read only their own keys of it
(``sub_keys``), so each branch's VJP is taken w.r.t. those keys only.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

Branch = Callable[..., jax.Array]  # (x, layer, *extra) -> x of the same shape


def _at(tree, i):
    return jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, i, keepdims=False), tree)


def _put(tree, i, part):
    return jax.tree.map(lambda a, p: jax.lax.dynamic_update_index_in_dim(a, p, i, 0), tree, part)


def workspace(n_sub: int, L: int, shape: tuple[int, ...], dtype=jnp.float32) -> tuple[jax.Array, ...]:
    """Zero buffers for the inputs of ``n_sub`` sub-blocks in ``L`` slots, for an input ``x`` of
    ``shape`` (the ``ws`` of :func:`layer_stack`'s ``run``)."""
    return tuple(jnp.zeros((L, *shape), dtype) for _ in range(n_sub))


def _vjp_branch(f: Branch, n_extra: int) -> Callable:
    """``(x, own, rest, *extra, g) -> (dx, down)``: one branch's VJP w.r.t. its input and its own
    weights ``own`` (the layer's other weights ``rest`` are constants), recomputing its forward."""

    def run(x, own, rest, *more):
        extra, g = more[:n_extra], more[n_extra]
        _, pull = jax.vjp(lambda x, own: f(x, {**rest, **own}, *extra), x, own)
        return pull(g)

    return run


def layer_stack(
    branches: Sequence[Sequence[Branch]], sub_keys: Sequence[Sequence[str]], n_extra: Sequence[int]
) -> Callable:
    """``run(x, codes, layers, extra, ws=None) -> x`` through the active layers (``codes[:, 0] > 0``, leading).

    ``branches[s]`` are sub-block ``s``'s branches (index = code, 0 the identity), called as
    ``branch(x, layer, *extra[: n_extra[s]])`` with the slot's whole layer dict; sub-block
    ``s`` reads only the weights ``sub_keys[s]`` (together they must be all of the layer's:
    checked); ``codes`` (L, S) int32; ``layers`` the stacked (L, ...) weights; ``extra`` a
    tuple of non-differentiable inputs (e.g. the padding mask); ``ws`` a :func:`workspace` for
    ``x``'s shape (its cotangent is the filled workspace) or None (zero-filled inside)."""
    vjps = [[_vjp_branch(f, k) for f in bs] for bs, k in zip(branches, n_extra, strict=True)]

    def split(layer, s):
        own = {k: layer[k] for k in sub_keys[s]}
        return own, {k: v for k, v in layer.items() if k not in own}

    def depth(codes):
        return jnp.sum(codes[:, 0] > 0)

    def forward(x, codes, layers, extra, bufs):
        """The active slots; with ``bufs`` (the workspace) each slot's sub-block inputs are saved."""
        owned = [k for keys in sub_keys for k in keys]
        if sorted(owned) != sorted(layers):
            raise ValueError(f"layer_stack: sub-block keys {owned} must cover the layer's {sorted(layers)}")
        save = bufs is not None
        bufs = list(bufs) if save else []

        def body(i, carry):
            x, bufs = carry
            layer = _at(layers, i)
            for s, (bs, k) in enumerate(zip(branches, n_extra, strict=True)):
                if save:
                    bufs = [*bufs[:s], jax.lax.dynamic_update_index_in_dim(bufs[s], x, i, 0), *bufs[s + 1 :]]
                x = jax.lax.switch(codes[i, s], list(bs), x, layer, *extra[:k])
            return x, bufs

        return jax.lax.fori_loop(0, depth(codes), body, (x, bufs))

    @jax.custom_vjp
    def run(x, codes, layers, extra, ws):
        return forward(x, codes, layers, extra, None)[0]

    def run_fwd(x, codes, layers, extra, ws):
        y, bufs = forward(x, codes, layers, extra, ws)
        return y, (bufs, codes, layers, extra)

    def run_bwd(res, g):
        bufs, codes, layers, extra = res
        n = depth(codes)

        def body(j, carry):
            g, grads = carry
            i = n - 1 - j
            layer, got = _at(layers, i), {}
            for s in reversed(range(len(branches))):
                x_in = jax.lax.dynamic_index_in_dim(bufs[s], i, keepdims=False)
                own, rest = split(layer, s)
                g, d_own = jax.lax.switch(codes[i, s], vjps[s], x_in, own, rest, *extra[: n_extra[s]], g)
                got.update(d_own)
            return g, _put(grads, i, got)

        zeros = jax.tree.map(jnp.zeros_like, layers)
        gx, grads = jax.lax.fori_loop(0, n, body, (g, zeros))
        return gx, None, grads, jax.tree.map(lambda _: None, extra), tuple(bufs)

    run.defvjp(run_fwd, run_bwd)

    def stack(x, codes, layers, extra, ws=None):
        if ws is None:  # zero-filled in the step (and dropped by XLA where nothing is differentiated)
            ws = workspace(len(branches), codes.shape[0], x.shape, x.dtype)
        return run(x, codes, layers, extra, ws)

    return stack
