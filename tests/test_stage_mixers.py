"""A per-layer token mixer inside the transformer stages of a staged space: the staged supernet
against stand-alone models, complexity, latency features, ONNX export and bad input."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

from search_spaces import SpaceError, complexity, load_space, space_from_dict, to_batch
from supernet import any_model, model
from supernet.extract import extract

SPACE = Path(__file__).resolve().parents[1] / "experiments/spaces/stages-mixers-tiny.yaml"


@pytest.fixture(scope="module")
def space():
    return load_space(SPACE)


def _archs(space):
    base = space.largest().replace(s0_depth=1, s1_depth=2, s1_num_heads_0=2, s1_num_heads_1=1)
    return [
        base.replace(s1_mixer_0="linear", s1_mixer_1="dft", s2_mixer_0="cga", s2_num_heads_0=3),
        base.replace(s1_mixer_0="sdp", s1_mixer_1="linear", s2_mixer_0="sdp", s2_num_heads_0=1),
    ]


def test_stage_mixers_equal_standalone_and_count(space):
    """Subnets mixing sdp, linear, dft (in windows, before Q-pooling) and cga equal the
    stand-alone model built from their sliced weights (1e-5); params equal the complexity
    formula.  (Their ONNX export: tests/test_stages_e2e.py, slow.)"""
    params = model.init(space, jax.random.key(0))
    geo = model.geometry(space)
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
    archs = [space.validate(a) for a in _archs(space)]
    c = complexity(space, archs)
    outs = []
    for i, a in enumerate(archs):
        net, sub = any_model.build(space, a), extract(params, a, space=space)
        assert sum(int(np.prod(w.shape)) for w in jax.tree.leaves(sub)) == c["params"][i]
        want = jax.jit(net.apply)(sub, x)
        got = model.apply(params, x, a, geo=geo)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        outs.append(np.asarray(got))
    assert np.abs(outs[0] - outs[1]).max() > 1e-4  # the mixers change the function
    assert c["macs_attn_scores"][0] != c["macs_attn_scores"][1] and c["params"][0] != c["params"][1]


def test_stage_mixer_features_count_each_mixer(space):
    from predictors import features as feats

    archs = space.sample_many(0, 12) + _archs(space)
    X, names = feats.features(space, archs), feats.feature_names(space)
    assert X.shape == (len(archs), len(names)) and np.isfinite(X).all()
    b = to_batch(space, archs)
    for s in (1, 2):
        cols = [i for i, n in enumerate(names) if n.startswith(f"s{s}:") and "mixer=" in n]
        assert cols and (X[:, cols].sum(1) == b.values[f"s{s}_depth"]).all()
    a, bb = _archs(space)[0], _archs(space)[0].replace(s1_mixer_1="sdp")
    diff = {names[i] for i in np.flatnonzero(feats.features(space, [a])[0] != feats.features(space, [bb])[0])}
    assert "macs_attn_scores" in diff and not any(n.startswith(("s0", "s2")) for n in diff)


@pytest.mark.parametrize(
    "stage,mixer,heads,words",
    [
        (
            2,
            ["sdp", "cga"],
            [1, 5],
            "stage 2 field 'mixer': mixer 'cga': embed_dim 12 is not a multiple of num_heads 5",
        ),
        (1, ["sdp", "fourier"], None, "stage 1 field 'mixer': unknown mixer 'fourier'"),
        (1, ["dsc4"], None, "stage 1 field 'mixer': 'dsc4': mixer 'dsc' cannot use kernel 4"),
        (0, ["sdp"], None, "stage 0 field 'mixer' does not apply to a mbconv stage"),
    ],
)
def test_bad_stage_mixer_is_one_line(stage, mixer, heads, words):
    d = yaml.safe_load(SPACE.read_text())
    d["task"]["stages"][stage]["mixer"] = mixer
    if heads:
        d["task"]["stages"][stage]["num_heads"] = heads
    with pytest.raises(SpaceError) as e:
        space_from_dict(d)
    assert words in str(e.value) and "\n" not in str(e.value)
