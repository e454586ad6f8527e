"""The supernet against the plain model: extract equality, exact params, FLOPs vs XLA."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from subnet_exactness import assert_subnets_exact

from search_spaces import ArchConfig, SearchSpace, complexity
from supernet import extract, model, standalone


def _reduced(space: SearchSpace) -> SearchSpace:
    """The built-in task with fewer choices (fewer branches to compile), same code paths."""
    d = space.to_dict()
    d["name"] = space.name + "-test"
    d["max_depth"] = 3
    d["global"] = {"embed_dim": d["global"]["embed_dim"][:2], "depth": [1, 2, 3]}
    d["layer"] = {
        "num_heads": d["layer"]["num_heads"][:2],
        "mlp_dim": d["layer"]["mlp_dim"][:2],
        "attn_type": ["linear", "softmax"],
    }
    from search_spaces import space_from_dict

    return space_from_dict(d)


@pytest.fixture(scope="module", params=["vit_space", "lm_space"])
def setup(request):
    space = _reduced(request.getfixturevalue(request.param))
    p = model.init(space, jax.random.key(0))
    return space, p


def _input(space, key):
    if space.task["kind"] == "vit":
        return jax.random.uniform(key, (3, 28, 28, 1))
    return jax.random.randint(key, (3, space.task["seq_len"]), 0, space.task["vocab_size"])


def _archs(space):
    E = sorted(space.global_dims["embed_dim"])
    H, M = sorted(space.layer_dims["num_heads"]), sorted(space.layer_dims["mlp_dim"])
    return [
        ArchConfig.make(
            depth=3,
            embed_dim=E[1],
            num_heads=[H[0], H[1], H[1]],
            mlp_dim=[M[1], M[0], M[1]],
            attn_type=["linear", "softmax", "linear"],
        ),
        ArchConfig.make(
            depth=2,
            embed_dim=E[0],
            num_heads=[H[1], H[0]],
            mlp_dim=[M[0], M[1]],
            attn_type=["softmax", "linear"],
        ),
    ]


def test_extract_equals_supernet_and_counts_params_exactly(setup):
    space, p = setup
    assert_subnets_exact(space, p, _input(space, jax.random.key(1)), _archs(space))


def test_supernet_gradient_equals_the_standalone_gradient_and_is_zero_elsewhere(setup):
    """The layer stack's custom backward pass (only the active slots run): the gradient of a
    subnet's loss w.r.t. the supernet weights is the standalone model's gradient on the sliced
    weights, and exactly zero on every weight the subnet does not use (empty slots included).
    One space (the LM: causal, tied head) keeps the compile time down; the code path is shared."""
    space, p = setup
    if space.task["kind"] == "vit":
        pytest.skip("the LM space covers the shared layer stack")
    geo = model.geometry(space)
    x = _input(space, jax.random.key(4))
    arch = _archs(space)[1]  # 2 of 3 layers: one empty slot
    E, codes = model.encode_arch(geo, arch)
    w = jax.random.normal(jax.random.key(5), jax.eval_shape(lambda: model.apply(p, x, arch, geo=geo)).shape)

    def sup(params):
        return (model.apply_codes(params, x, jax.numpy.asarray(codes), geo=geo, embed_dim=E) * w).sum()

    def ref(sub):
        return (standalone.build(space, arch).apply(sub, x) * w).sum()

    g = jax.jit(jax.grad(sup))(p)
    want = jax.jit(jax.grad(ref))(extract(p, arch, space=space))
    got = extract(g, arch, space=space)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5 * max(1.0, float(np.abs(b).max())), rtol=1e-4)

    def sq(tree):
        return sum(float((np.asarray(a, np.float64) ** 2).sum()) for a in jax.tree.leaves(tree))

    assert sq(g) == pytest.approx(sq(got), rel=1e-9)
    assert not np.asarray(g["layers"]["fc1"]["kernel"][2]).any()  # the empty slot


def test_subnet_is_an_argument_not_state(setup):
    space, p = setup
    geo = model.geometry(space)
    x = _input(space, jax.random.key(3))
    a, b = _archs(space)[0], _archs(space)[0].replace(attn_type=["softmax", "softmax", "linear"])
    ya, yb, ya2 = (model.apply(p, x, arch, geo=geo) for arch in (a, b, a))
    assert not np.allclose(ya, yb)
    np.testing.assert_array_equal(ya, ya2)


FLOPS_TOLERANCE = 0.25  # XLA also counts norms, activations, softmax and the causal cumsums


def test_flops_within_tolerance_of_xla_cost_analysis(vit_space, lm_space):
    """complexity counts matrix-product FLOPs: a lower bound of XLA's count, within 25 % of it."""
    for space in (vit_space, lm_space):
        for arch in [space.sample(7)]:
            m = standalone.build(space, arch)
            variables = standalone.init(space, arch, jax.random.key(0))
            x = standalone.example_input(space, 4)
            ca = jax.jit(m.apply).lower(variables, x).compile().cost_analysis()
            ca = ca[0] if isinstance(ca, list) else ca
            ours = complexity(space, [arch], batch_size=4)["flops"][0]
            assert ours <= ca["flops"] <= ours * (1 + FLOPS_TOLERANCE), (arch.short(), ca["flops"], ours)


def test_geometry_rejects_unbuildable_space():
    from search_spaces.errors import NasError

    space = SearchSpace(
        name="u",
        max_depth=2,
        global_dims={"embed_dim": [8]},
        layer_dims={"num_heads": [1]},
        task={
            "kind": "vit",
            "image_size": 28,
            "patch_size": 7,
            "channels": 1,
            "num_classes": 10,
            "head_dim": 4,
        },
    )
    with pytest.raises(NasError, match="mlp_dim"):
        model.geometry(space)
