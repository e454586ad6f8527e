"""Proxies read from one backward pass at initialization: the weights and the loss gradient.

All are sums over the supernet's weights of the subnet's gradient ``g`` (zero outside the
subnet's slices, see :mod:`supernet.proxies.probe`) and weights ``w``:

* ``grad_norm``: ``||g||_2`` (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
  ICLR 2021).
* ``snip``: ``sum |g * w|``, connection sensitivity (Lee et al., "SNIP: Single-shot Network
  Pruning based on Connection Sensitivity", ICLR 2019), summed as in Abdelfattah et al.
* ``synaptic_saliency``: SNIP restricted to the MLP weights (Zhou et al., "Training-free
  Transformer Architecture Search", CVPR 2022, TF-TAS).
* ``synaptic_diversity``: per layer and per token-mixer weight matrix ``W``,
  ``||g_W||_nuc * ||W||_nuc`` (TF-TAS), the matrix restricted to the subnet's entries.
  Layers whose mixer has no weight matrices contribute 0.
* ``dss``: TF-TAS's DSS-indicator, ``synaptic_diversity + synaptic_saliency``.
* ``head_importance``: ``sum_h |dL/dxi_h|`` for a gate ``xi_h = 1`` on each head's output
  (Michel et al., "Are Sixteen Heads Really Better than One?", NeurIPS 2019; used as a proxy by
  Serianni & Kalita, ACL 2023).  Gating head h scales its rows of the output projection, so
  ``dL/dxi_h = sum over those rows of w * g``: no attention internals are needed.  It reads the
  projection ``out`` (Llama: ``o``) shaped (L, H, hd, E); a layer whose mixer has no heads does
  not use it, gets zero gradient there and is skipped (contributes 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from supernet.proxies.probe import nuclear_norms, sub_keys, tree_sum

HEAD_PROJ = ("out", "o")  # attention output projections shaped (L, H, hd, E)


def _kernels(tree: dict) -> dict:
    return {k: v["kernel"] for k, v in tree.items() if isinstance(v, dict) and "kernel" in v}


def _matrix(name: str, a: jax.Array) -> jax.Array:
    """A stacked kernel as (L, in, out): output projections fold their head axes into ``in``."""
    if name in HEAD_PROJ:
        return a.reshape(a.shape[0], -1, a.shape[-1])
    return a.reshape(a.shape[0], a.shape[1], -1)


def grad_values(geo, params: dict, grads: dict, names: tuple[str, ...]) -> dict[str, jax.Array]:
    """The requested gradient proxies of one batch."""
    out: dict[str, jax.Array] = {}
    mixer, mlp = sub_keys(geo)
    layers, glayers = params["layers"], grads["layers"]
    if "grad_norm" in names:
        out["grad_norm"] = jnp.sqrt(tree_sum(jax.tree.map(lambda g: g * g, grads)))
    if "snip" in names:
        out["snip"] = tree_sum(jax.tree.map(lambda w, g: jnp.abs(w * g), params, grads))
    saliency = lambda: tree_sum(  # noqa: E731
        jax.tree.map(lambda w, g: jnp.abs(w * g), {k: layers[k] for k in mlp}, {k: glayers[k] for k in mlp})
    )
    if "synaptic_saliency" in names or "dss" in names:
        out["synaptic_saliency"] = saliency()
    if "synaptic_diversity" in names or "dss" in names:
        total = jnp.float32(0.0)
        ws, gs = _kernels({k: layers[k] for k in mixer}), _kernels({k: glayers[k] for k in mixer})
        for name, w in ws.items():
            g = _matrix(name, gs[name])
            w = _matrix(name, w) * (g != 0)  # the subnet's entries only
            total = total + jnp.sum(nuclear_norms(g) * nuclear_norms(w))
        out["synaptic_diversity"] = total
    if "dss" in names:
        out["dss"] = out["synaptic_diversity"] + out["synaptic_saliency"]
    if "head_importance" in names:
        total = jnp.float32(0.0)
        for name in HEAD_PROJ:
            if name in layers:
                w, g = layers[name]["kernel"], glayers[name]["kernel"]  # (L, H, hd, E)
                total = total + jnp.sum(jnp.abs(jnp.sum(w * g, axis=(2, 3))))
        out["head_importance"] = total
    return out
