"""What every data proxy starts from: seeded supernet weights at initialization and fixed batches.

A :class:`Probe` holds the supernet's freshly initialized weights (``model.init`` with
``PRNGKey(seed)``) and ``batches`` fixed training batches of the task's data (batch ``i`` is
``data.train_batch(step=i, seed=seed)``, a pure function of its arguments), so every proxy
value is a pure function of (space, arch, seed, batches, batch_size).

A subnet runs through the supernet's generic forward (:func:`supernet.model.apply_codes`) with
its static embedding width and traced per-layer codes: one compiled program per proxy family
and embedding width, whatever the architecture.  Gradients w.r.t. the whole supernet's weights
are exactly zero outside the subnet's slices (weight entanglement: the subnet reads leading
slices only), so a sum over the supernet's weights is the sum over the subnet's own weights.

:func:`loss_and_hidden` also returns each active layer slot's sub-block inputs (the residual
stream entering attention and entering the MLP): the layer stack's workspace, whose cotangent
is the filled workspace (:mod:`supernet.layer_stack`), so the hidden states come from the
generic forward, never from a mixer's internals.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError
from supernet import model
from supernet.losses import cross_entropy


class Probe(NamedTuple):
    """The fixed inputs of every proxy (hashable parts static for jit: ``geo``)."""

    space: SearchSpace
    geo: model.Geometry
    params: Any  # supernet weights at initialization (no {"params"} wrapper)
    batches: tuple[tuple[np.ndarray, np.ndarray], ...]  # (x, y) fixed batches of the task's data
    seed: int


def make_probe(
    space: SearchSpace,
    *,
    seed: int = 0,
    batches: int = 1,
    batch_size: int = 16,
    seq_len: int | None = None,
    data: dict | None = None,
    need_data: bool = True,
) -> Probe:
    """Seeded weights and ``batches`` fixed batches (``seq_len`` truncates token inputs: a documented
    reduction for large LMs).  A space whose task has no data is one line naming it."""
    for name, v in (("batches", batches), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise NasError(f"proxies: field '{name}' must be an integer >= 1, got {v!r}")
    geo = model.geometry(space)
    params = model.init(space, jax.random.PRNGKey(seed))  # jitted inside
    out: list[tuple[np.ndarray, np.ndarray]] = []
    if need_data:
        from supernet import data as D

        try:
            ds = D.load(space, data or {})
        except NasError as e:
            raise NasError(f"proxies: space '{space.name}' has no data to probe with ({e})") from None
        for i in range(batches):
            x, y = D.train_batch(ds, step=i, batch_size=batch_size, seed=seed)
            x, y = np.asarray(x), np.asarray(y)
            if seq_len is not None and geo.task.lookup and x.ndim == 2:
                x, y = x[:, :seq_len], (y[:, :seq_len] if y.ndim == 2 else y)
            out.append((x, y))
    return Probe(space, geo, params, tuple(out), seed)


def codes_of(probe: Probe, arch: ArchConfig) -> tuple[int, jax.Array]:
    """(static embedding width, traced per-layer codes) of a validated architecture."""
    probe.space.validate(arch)
    E, codes = model.encode_arch(probe.geo, arch)
    return E, jnp.asarray(codes)


def loss_fn(params, x, y, codes, *, geo: model.Geometry, E: int) -> jax.Array:
    """Mean cross-entropy of the subnet over the labelled positions (the task's training loss)."""
    return cross_entropy(model.apply_codes(params, x, codes, geo=geo, embed_dim=E), y)


def loss_and_hidden(params, x, y, codes, *, geo: model.Geometry, E: int):
    """(loss, gradient w.r.t. params, hidden) with ``hidden`` the workspace: per sub-block
    (attention, MLP) an (L, B, T, E) array of the slots' inputs (zeros at inactive slots)."""
    ws = model.stack_workspace(geo, E, x.shape)

    def f(p, ws):
        return cross_entropy(model.apply_codes(p, x, codes, ws, geo=geo, embed_dim=E), y)

    loss, pull = jax.vjp(f, params, ws)
    grads, hidden = pull(jnp.ones_like(loss))
    return loss, grads, hidden


def depth_mask(codes: jax.Array) -> jax.Array:
    """(L,) float: 1 at the subnet's active layer slots."""
    return (codes[:, 0] > 0).astype(jnp.float32)


def tree_sum(tree) -> jax.Array:
    return sum(jnp.sum(a) for a in jax.tree.leaves(tree))


def sub_keys(geo: model.Geometry) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The layer weights of the token mixer (attention) and of the MLP."""
    return geo.sub_keys


def corr_score(m: jax.Array, k: float = 1e-5) -> jax.Array:
    """Mellor et al.'s Jacobian-covariance score of the rows of ``m`` (n, d):
    ``-sum_i (log(l_i + k) + 1 / (l_i + k))`` over the eigenvalues of their correlation matrix.
    Rows are centred and scaled; a constant row gets correlation 0 (not NaN)."""
    m = m - m.mean(axis=1, keepdims=True)
    norm = jnp.sqrt(jnp.sum(m * m, axis=1, keepdims=True))
    m = m / jnp.maximum(norm, 1e-12)
    c = m @ m.T
    v = jnp.clip(jnp.linalg.eigvalsh(c), 0.0, None)
    return -jnp.sum(jnp.log(v + k) + 1.0 / (v + k))


def nuclear_norms(m: jax.Array) -> jax.Array:
    """(L,) nuclear norms of a stack of matrices (L, n, k), one LAPACK call per matrix.

    Never one batched call: jaxlib 0.10.2's CPU LAPACK kernels split a batch of large enough
    matrices over XLA's intra-op thread pool and block the calling pool thread until the parts
    are done; XLA runs independent ops of a program concurrently, so as many batched calls as the
    pool has threads (2 on a 2-core machine: Llama's q, k, v and o projections) all wait on
    parts that no free thread can run, and the program hangs idle.  A single matrix runs inline.
    ``lax.map`` keeps each call unbatched; do not ``vmap`` this function for the same reason.
    """
    return jax.lax.map(lambda a: jnp.linalg.svd(a, compute_uv=False).sum(), m)
