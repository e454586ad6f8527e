"""The layer stack's custom backward pass (supernet/layer_stack.py) against plain autodiff, at
every depth: outputs, input and weight gradients, and exact zeros for the unused slots."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from supernet.layer_stack import layer_stack, workspace

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


def test_a_given_workspace_changes_nothing_and_comes_back_holding_the_saved_inputs():
    """``ws``'s cotangent is the workspace the forward filled (what a training step donates and
    keeps): the active slots' sub-block inputs; the outputs and gradients equal those without."""
    stack = layer_stack(_branches(), [("a",), ("b",)], n_extra=[1, 0])
    k = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(k[0], (4, E))
    layers = {"a": jax.random.normal(k[1], (L, K, E)), "b": 0.3 * jax.random.normal(k[2], (L, K, E, E))}
    m = jnp.float32(0.7)
    codes = jnp.asarray([[1, 2], [2, 1], [0, 0]], jnp.int32)  # depth 2 of 3
    stale = workspace(2, L, x.shape)
    stale = tuple(b + 5.0 for b in stale)  # what the previous step left there

    def loss(x, layers, ws):
        return (stack(x, codes, layers, (m,), ws) ** 2).sum()

    v0, g0 = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(x, layers, None)
    v1, (gx, gl, filled) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(x, layers, stale)
    np.testing.assert_allclose(v1, v0, rtol=1e-6)
    for a, b in zip(jax.tree.leaves((gx, gl)), jax.tree.leaves(g0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    attn, mlp = _branches()
    h = x
    for i in range(2):  # slot i holds the attention and the MLP sub-block inputs of layer i
        layer = jax.tree.map(lambda a, i=i: a[i], layers)
        np.testing.assert_allclose(filled[0][i], h, rtol=1e-5, atol=1e-6)
        h = attn[int(codes[i, 0])](h, layer, m)
        np.testing.assert_allclose(filled[1][i], h, rtol=1e-5, atol=1e-6)
        h = mlp[int(codes[i, 1])](h, layer)
    np.testing.assert_array_equal(filled[0][2], stale[0][2])  # an unused slot is left as it was


def test_a_training_step_on_a_reused_workspace_equals_one_on_a_fresh_workspace():
    """StepFns donates and keeps the workspace between steps: what a deeper subnet left in it
    must not reach the next, shallower one (same params out as a step on fresh buffers)."""
    import optax

    from search_spaces import load_space
    from supernet import data, model
    from supernet.train import StepFns
    from tests.conftest import ROOT

    space = load_space(ROOT / "experiments/spaces/gpt2-tiny.yaml")
    geo = model.geometry(space)
    tx = optax.adamw(1e-2)
    params = model.init(space, jax.random.key(0))
    x, y = data.train_batch(data.load(space), step=0, batch_size=4, seed=0)
    deep = space.parse(
        {
            "embed_dim": 16,
            "depth": 3,
            "num_heads": [2, 4, 2],
            "mlp_dim": [64, 128, 64],
            "attn_type": ["softmax", "linear", "softmax"],
        }
    )
    shallow = space.parse(
        {"embed_dim": 16, "depth": 1, "num_heads": [4], "mlp_dim": [128], "attn_type": ["linear"]}
    )
    reused = StepFns(geo, tx)
    p, o, _ = reused.step(params, tx.init(params), x, y, [deep], distill=False, put=jnp.asarray)
    got = reused.step(p, o, x, y, [shallow], distill=False, put=jnp.asarray)
    want = StepFns(geo, tx).step(p, o, x, y, [shallow], distill=False, put=jnp.asarray)
    assert got[2] == want[2]
    for a, b in zip(jax.tree.leaves(got[:2]), jax.tree.leaves(want[:2]), strict=True):
        np.testing.assert_array_equal(a, b)
