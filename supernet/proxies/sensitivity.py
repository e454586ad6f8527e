"""Proxies that each need their own passes: GraSP, SynFlow, Fisher and Jacobian covariance.

* ``grasp``: ``-sum w * (H g)``, the gradient signal preservation score (Wang et al., "Picking
  Winning Tickets Before Training by Preserving Gradient Flow", ICLR 2020), summed as in
  Abdelfattah et al. (ICLR 2021).  The supernet's layer stack has a custom backward pass that
  cannot be differentiated again, so the Hessian-gradient product is a central finite
  difference of gradients, ``H g ~ (grad(w + e g) - grad(w - e g)) / 2e`` with
  ``e = 1e-3 ||w_s|| / ||g||`` (``w_s`` the subnet's weights): three backward passes.
* ``synflow``: ``sum w * dR/dw`` with every weight replaced by its absolute value and
  ``R`` the sum of the outputs (Tanaka et al., "Pruning neural networks without any data by
  iteratively conserving synaptic flow", NeurIPS 2020).  Its input is all ones for images and,
  for token ids, the first example of the probe batch (an embedding lookup has no all-ones
  input); LayerNorm and the attention softmax stay as they are.
* ``fisher``: ``sum_c 0.5 mean_n (dL/dm_c)^2`` for a gate ``m_c = 1`` on each channel entering
  an output projection (the attention values entering ``out``, the MLP's hidden units entering
  ``fc2``; Llama: ``o``, ``down``), per example ``n`` (Theis et al., 2018; Turner et al.,
  "BlockSwap", ICLR 2020; as in Abdelfattah et al.).  A gate on channel c scales row c of the
  projection, so its gradient is the sum of that row's ``w * g_n``, with ``g_n`` the example's
  gradient of the batch-mean loss.
* ``jacob_cov``: Mellor et al.'s Jacobian covariance ("Neural Architecture Search without
  Training", v1, 2020): the correlation spectrum of the per-example Jacobians of the summed
  outputs w.r.t. the embedded input (the input of the first layer: taken as the gradient
  w.r.t. the positional table, which every token adds; Llama, which has none: the gradient
  w.r.t. the embedding rows of the example's tokens).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet import model
from supernet.proxies.probe import corr_score, loss_fn, tree_sum

GATED = ("out", "fc2", "o", "down")  # projections whose input channels are gated (rows = channels)


def grasp(params, x, y, codes, *, geo, E: int) -> jax.Array:
    grad = jax.grad(loss_fn)
    g = grad(params, x, y, codes, geo=geo, E=E)
    gn = jnp.sqrt(tree_sum(jax.tree.map(lambda a: a * a, g)))
    wn = jnp.sqrt(tree_sum(jax.tree.map(lambda w, a: w * w * (a != 0), params, g)))
    e = 1e-3 * wn / jnp.maximum(gn, 1e-30)
    shift = lambda s: jax.tree.map(lambda w, a: w + s * e * a, params, g)  # noqa: E731
    gp, gm = grad(shift(1.0), x, y, codes, geo=geo, E=E), grad(shift(-1.0), x, y, codes, geo=geo, E=E)
    hg = jax.tree.map(lambda p, m: (p - m) / (2 * e), gp, gm)
    return -tree_sum(jax.tree.map(lambda w, h: w * h, params, hg))


def synflow(params, x, codes, *, geo, E: int) -> jax.Array:
    # all-ones input (Tanaka et al.): token id 1 at every position for token-id tasks, so the
    # value depends on neither the batch's examples nor their order
    ones = jnp.ones_like(x[:1]) if geo.task.lookup else jnp.ones_like(x[:1], dtype=jnp.float32)
    absw = jax.tree.map(jnp.abs, params)
    r = lambda p: jnp.sum(model.apply_codes(p, ones, codes, geo=geo, embed_dim=E))  # noqa: E731
    g = jax.grad(r)(absw)
    return tree_sum(jax.tree.map(lambda w, a: w * a, absw, g))


def fisher(params, x, y, codes, *, geo, E: int) -> jax.Array:
    names = [k for k in GATED if k in params["layers"]]
    B = x.shape[0]

    def one(xn, yn):
        def f(sub):
            p = {**params, "layers": {**params["layers"], **sub}}
            return loss_fn(p, xn[None], yn[None], codes, geo=geo, E=E) / B

        g = jax.grad(f)({k: params["layers"][k] for k in names})
        gates = []
        for k in names:
            w, gk = params["layers"][k]["kernel"], g[k]["kernel"]  # (L, ..., E): rows = channels
            gates.append(jnp.sum(w * gk, axis=-1).reshape(w.shape[0], -1))
        return jnp.concatenate(gates, axis=1)  # (L, channels)

    gates = jax.vmap(one)(x, y)  # (B, L, channels)
    return jnp.sum(0.5 * jnp.mean(gates * gates, axis=0))


def jacob_cov(params, x, codes, *, geo, E: int) -> jax.Array:
    has_pos = "pos" in params

    def one(xn):
        def f(table):
            p = {**params, ("pos" if has_pos else "embed"): table}
            return jnp.sum(model.apply_codes(p, xn[None], codes, geo=geo, embed_dim=E))

        table = params["pos"] if has_pos else params["embed"]
        g = jax.grad(f)(table)
        if has_pos:
            T = xn.shape[0] if geo.task.lookup else g.shape[0]  # the rows this input reaches
            return g[:T, :E].reshape(-1)
        return jnp.take(g["embedding"][:, :E], xn, axis=0).reshape(-1)

    return corr_score(jax.vmap(one)(x))
