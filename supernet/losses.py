"""Cross-entropy over the labelled positions: the loss every task kind trains on and reports.

A label ``< 0`` (:data:`IGNORE`) marks a position without a target: masked
language modelling scores only the ~15 % of positions it chose (Devlin et al.,
NAACL 2019), the other kinds label every position.  With every label present the
sums below equal the plain means bit for bit (a weight of 1.0 and a count equal
to the size), so the kinds that label everything train and score exactly as before.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

IGNORE = -1


def cross_entropy(logits: jax.Array, y: jax.Array, soft: jax.Array | None = None) -> jax.Array:
    """Mean cross-entropy over positions with a label ``y >= 0``: against ``y`` or, when given,
    against the ``soft`` target probabilities (distillation) at the same positions."""
    valid = y >= 0
    if soft is None:
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, y, 0))
    else:
        losses = optax.softmax_cross_entropy(logits, soft)
    w = valid.astype(losses.dtype)
    return (losses * w).sum() / jnp.maximum(w.sum(), 1.0)


def batch_stats(logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(sum of losses, number correct, number of labelled positions) of one batch."""
    valid = y >= 0
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, y, 0))
    correct = ((logits.argmax(-1) == y) & valid).sum()
    return jnp.where(valid, losses, 0.0).sum(), correct, valid.sum()
