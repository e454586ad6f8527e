"""Staged vision spaces: declaration, the staged supernet against stand-alone models, complexity."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_spaces import ArchConfig, SpaceError, complexity, load_space, space_from_dict
from supernet import any_model, model, standalone
from supernet.extract import extract

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "experiments/spaces/stages-tiny.yaml"
BUILTIN = ("vit-resnas-tiny", "elasticvit-tiny", "turbovit-tiny")


@pytest.fixture(scope="module")
def tiny():
    return load_space(TINY)


@pytest.fixture(scope="module")
def tiny_params(tiny):
    return model.init(tiny, jax.random.key(0))


def _n_params(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_staged_space_round_trips_and_counts_params(name):
    space = load_space(name)
    assert space.max_depth == 0 and len(space.stages) >= 3
    again = space_from_dict(space.to_dict())
    assert again.global_dims == space.global_dims and again.stages == space.stages
    archs = space.sample_many(1, 4) + [space.smallest(), space.largest()]
    c = complexity(space, archs, batch_size=2)
    for i, arch in enumerate(archs):
        assert ArchConfig.from_json(arch.to_json()) == arch
        shapes = jax.eval_shape(
            any_model.build(space, arch).init, jax.random.key(0), standalone.example_input(space)
        )
        assert _n_params(shapes) == c["params"][i]
    assert (c["macs"] == sum(c[f"macs_s{i}"] for i in range(len(space.stages))) + c["macs_embed"]
            + c["macs_head"]).all()  # fmt: skip
    assert (c["macs"][-1] > c["macs"][-2]) and (c["act_bytes"] > 0).all()


def test_operators_keep_inactive_slots_canonical(tiny):
    rng = np.random.default_rng(0)
    archs = tiny.sample_many(rng, 20)
    archs += [tiny.mutate(a, rng, prob=0.5) for a in archs[:10]]
    archs += [tiny.crossover(a, b, rng) for a, b in zip(archs[:10], archs[10:20], strict=True)]
    for a in archs:
        tiny.validate(a)
        assert tiny.canonical(a) == a
        for j in range(a["s0_depth"], 2):  # inactive slots at the smallest choice
            assert a[f"s0_kernel_size_{j}"] == 3 and a[f"s0_expand_ratio_{j}"] == 1
    assert len({a.to_json() for a in archs}) > 10
    assert tiny.size() == (4 + 4 * 4) * (4 + 4 * 4) * 2  # distinct networks: inactive slots do not count


def test_staged_subnets_equal_standalone_models(tiny, tiny_params):
    """Every staged subnet's output equals the stand-alone model built from its sliced weights
    (1e-5), and its parameter count equals the complexity formula; one program per width tuple."""
    geo = model.geometry(tiny)
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
    archs = [tiny.largest(), tiny.sample(7).replace(s0_depth=1, s0_kernel_size_0=7, s0_expand_ratio_0=2.5)]
    c = complexity(tiny, archs)
    before = model._apply_jit._cache_size()
    for i, a in enumerate(archs):
        net, sub = any_model.build(tiny, a), extract(tiny_params, a, space=tiny)
        assert _n_params(sub) == c["params"][i]
        want = jax.jit(net.apply)(sub, x)
        np.testing.assert_allclose(model.apply(tiny_params, x, a, geo=geo), want, atol=1e-5, rtol=0)
    assert model._apply_jit._cache_size() - before == 1  # both archs have widths (4, 8, 12)


@pytest.mark.slow
def test_staged_gradients_equal_standalone_gradients(tiny, tiny_params):
    """Gradients through the layer stack's backward pass (MBConv and windowed branches
    included) equal the stand-alone model's on the sliced weights; a slot beyond the subnet's
    depth gets exactly zero."""
    geo = model.geometry(tiny)
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
    arch = tiny.sample(7).replace(s0_depth=1, s0_kernel_size_0=7, s0_expand_ratio_0=2.5, s1_depth=2)
    widths, codes = model.encode_arch(geo, arch)
    loss = lambda p: model.apply_codes(p, x, jnp.asarray(codes), geo=geo, embed_dim=widths).sum()  # noqa: E731
    g_super = jax.jit(jax.grad(loss))(tiny_params)
    net = any_model.build(tiny, arch)
    g_alone = jax.jit(jax.grad(lambda v: net.apply(v, x).sum()))(extract(tiny_params, arch, space=tiny))
    close = lambda u, v: np.testing.assert_allclose(u, v, atol=1e-5, rtol=1e-5)  # noqa: E731
    jax.tree.map(close, extract(g_super, arch, space=tiny), g_alone)
    assert all(float(jnp.abs(w[1]).max()) == 0 for w in jax.tree.leaves(g_super["stage0"]))


BAD = [
    (
        {"image_size": 6, "stages.1.window": 0},
        "stage 1 field 'reduction'",
    ),  # 6 -> 3: odd grid  # 6 -> 3: an odd grid cannot be halved
    ({"stages.1.window": 8}, "stage 1 field 'window'"),  # window larger than the 4x4 grid
    ({"stages.1.window": 3}, "stage 1 field 'window'"),  # does not tile the grid
    ({"stages.1.embed_dim": [2]}, "stage 1 field 'embed_dim'"),  # shrinks across a residual reduction
    ({"stages.2.embed_dim": [10]}, "stage 2 field 'embed_dim'"),  # not a multiple of head_dim (q_pooling)
    ({"stages.0.kernel_size": [3, 9]}, "stage 0 field 'kernel_size'"),
    ({"stages.0.block": "resnet"}, "stage 0 field 'block'"),
    ({"stages.2.reduction": "q_pooling"}, "stage 2 field 'reduction'"),
]


@pytest.mark.parametrize("change,words", BAD)
def test_bad_stages_name_the_stage_and_field(change, words):
    import yaml

    d = yaml.safe_load(TINY.read_text())
    for key, value in change.items():
        parts = key.split(".")
        if parts[0] == "stages":
            d["task"]["stages"][int(parts[1])][parts[2]] = value
        else:
            d["task"][key] = value
    with pytest.raises(SpaceError, match=words) as e:
        space_from_dict(d)
    assert "\n" not in str(e.value)


def test_stages_in_a_text_task_are_refused():
    d = load_space("textcls-shakespeare").to_dict()
    d["max_depth"], d["global"], d["layer"] = 0, {}, {}
    d["task"]["stages"] = [
        {"block": "transformer", "depth": [1], "embed_dim": [8], "num_heads": [1], "mlp_dim": [8]}
    ]
    with pytest.raises(SpaceError, match="field 'task.stages': stages need a 2-D token grid"):
        space_from_dict(d)
