"""The plain transformer: its parameter count is exactly what complexity says."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_spaces import params
from supernet import standalone
from supernet.mixers import linear


@pytest.mark.parametrize("space_name", ["vit_space", "lm_space"])
def test_param_count_matches_complexity(request, space_name):
    space = request.getfixturevalue(space_name)
    for arch in [space.smallest(), space.largest(), *space.sample_many(1, 3)]:
        variables = jax.eval_shape(lambda arch=arch: standalone.init(space, arch, jax.random.key(0)))
        assert sum(x.size for x in jax.tree.leaves(variables)) == params(space, arch)


def test_causal_linear_attention_equals_masked_quadratic_form():
    q, k, v = (jax.random.normal(jax.random.key(i), (2, 8, 2, 4)) for i in range(3))
    fq, fk = linear.feature_map(q), linear.feature_map(k)
    weights = jnp.einsum("bthd,bshd->bhts", fq, fk) * jnp.tril(jnp.ones((8, 8)))
    ref = jnp.einsum("bhts,bshd->bthd", weights, v) / (weights.sum(-1).transpose(0, 2, 1)[..., None] + 1e-6)
    for chunk in (64, 8, 3, 1):  # one chunk, exactly one, a ragged last chunk, every position its own
        got = linear.linear_attention(q, k, v, causal=True, chunk=chunk)
        np.testing.assert_allclose(got, ref, atol=1e-5, err_msg=f"chunk={chunk}")


def test_lm_is_causal(lm_space):
    arch = lm_space.sample(4)
    arch = arch.replace(attn_type=["softmax", "linear"] * (arch.depth // 2) + ["softmax"] * (arch.depth % 2))
    model = standalone.build(lm_space, arch)
    variables = standalone.init(lm_space, arch, jax.random.key(1))
    x = jax.random.randint(jax.random.key(2), (1, 64), 0, 128)
    y = x.at[0, 40:].set((x[0, 40:] + 1) % 128)
    out_x, out_y = model.apply(variables, x), model.apply(variables, y)
    np.testing.assert_allclose(out_x[0, :40], out_y[0, :40], atol=1e-5)
    assert not np.allclose(out_x[0, 40:], out_y[0, 40:])
