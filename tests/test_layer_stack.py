"""The layer stack's custom backward pass (supernet/layer_stack.py) against plain autodiff, at
every depth: outputs, input and weight gradients, and exact zeros for the unused slots."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from supernet.layer_stack import layer_stack

L, K, E = 3, 2, 5  # slots, branches per sub-block (besides the identity), width


def _branches():
    def attn_k(k):
        return lambda x, layer, m: x + m * jnp.tanh(x * layer["a"][k])

    def mlp_k(k):
        return lambda x, layer: x + jnp.sin(x @ layer["b"][k])

    attn = [lambda x, layer, m: x] + [attn_k(k) for k in range(K)]
    mlp = [lambda x, layer: x] + [mlp_k(k) for k in range(K)]
    return [attn, mlp]


def _reference(x, codes, layers, m):
    """The same stack as plain Python over the active slots, differentiated by JAX itself."""
    attn, mlp = _branches()
    for i in range(L):
        if codes[i, 0] == 0:
            break
        layer = jax.tree.map(lambda a, i=i: a[i], layers)
        x = mlp[codes[i, 1]](attn[codes[i, 0]](x, layer, m), layer)
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_outputs_and_gradients_equal_plain_autodiff_at_every_depth(seed):
    stack = layer_stack(_branches(), [("a",), ("b",)], n_extra=[1, 0])
    k = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(k[0], (4, E))
    layers = {"a": jax.random.normal(k[1], (L, K, E)), "b": 0.3 * jax.random.normal(k[2], (L, K, E, E))}
    m = jnp.float32(0.7)  # a non-differentiable extra input
    w = jax.random.normal(k[3], (4, E))
    rng = np.random.default_rng(seed)
    for depth in range(0, L + 1):
        codes = np.zeros((L, 2), np.int32)
        codes[:depth] = rng.integers(1, K + 1, size=(depth, 2))

        def got(x, layers, codes=codes):
            return (stack(x, jnp.asarray(codes), layers, (m,)) * w).sum()

        def want(x, layers, codes=codes):
            return (_reference(x, codes, layers, m) * w).sum()

        np.testing.assert_allclose(jax.jit(got)(x, layers), want(x, layers), rtol=1e-5, atol=1e-5)
        g_got = jax.jit(jax.grad(got, argnums=(0, 1)))(x, layers)
        g_want = jax.grad(want, argnums=(0, 1))(x, layers)
        for a, b in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_want), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        assert not np.asarray(g_got[1]["b"][depth:]).any()  # the slots the subnet does not use
