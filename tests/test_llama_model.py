"""Llama-style elastic blocks (RMSNorm, RoPE, SwiGLU, GQA): every subnet equals its stand-alone model."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from subnet_exactness import assert_subnets_exact

from search_spaces import ArchConfig, NasError, complexity, space_from_dict


def tiny_llama_space(*, tied: bool = True, scaling=None, name: str = "llama-tiny") -> object:
    task = {
        "kind": "lm",
        "block": "llama",
        "vocab_size": 96,
        "seq_len": 16,
        "head_dim": 8,
        "ln_eps": 1e-5,
        "rope_theta": 500.0,
        "tie_embeddings": tied,
    }
    if scaling:
        task["rope_scaling"] = scaling
    return space_from_dict(
        {
            "name": name,
            "max_depth": 3,
            "global": {"embed_dim": [24, 32], "depth": [1, 2, 3]},
            "layer": {"num_heads": [2, 4], "num_kv_heads": [1, 2], "mlp_dim": [16, 40]},
            "task": task,
        }
    )


ARCHS = [
    dict(depth=3, embed_dim=32, num_heads=[4, 2, 4], num_kv_heads=[1, 2, 2], mlp_dim=[40, 16, 16]),
    dict(depth=2, embed_dim=24, num_heads=[2, 4], num_kv_heads=[2, 1], mlp_dim=[16, 40]),
]


LLAMA3 = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8,
}


@pytest.mark.parametrize(
    "tied,scaling,archs",
    [(True, None, [ARCHS[0], ARCHS[1], "largest"]), (False, LLAMA3, [ARCHS[1]])],
)
def test_subnets_equal_standalone_models_and_params_are_exact(tied, scaling, archs):
    """The exactness test of tests/test_supernet_model.py, for Llama blocks (GQA, tied or untied head)."""
    from supernet import model

    space = tiny_llama_space(tied=tied, scaling=scaling)
    geo = model.geometry(space)
    p = model.init(space, jax.random.key(0))
    x = jax.random.randint(jax.random.key(1), (2, 16), 0, 96)
    chosen = [space.largest() if d == "largest" else ArchConfig.from_dict(d) for d in archs]
    outs = assert_subnets_exact(space, p, x, chosen)
    if not tied:
        return
    assert not np.allclose(outs[0], outs[-1])  # the subnet is an argument, not state
    # causal: changing the last token leaves earlier positions unchanged
    y = x.at[:, -1].set((x[:, -1] + 1) % 96)
    arch = ArchConfig.from_dict(ARCHS[0])
    a, b = model.apply(p, x, arch, geo=geo), model.apply(p, y, arch, geo=geo)
    np.testing.assert_allclose(a[:, :-1], b[:, :-1], atol=1e-6)


def test_grouping_errors_name_layer_and_values():
    from supernet import extract, model

    space = tiny_llama_space()
    bad = ArchConfig.from_dict(
        dict(depth=2, embed_dim=24, num_heads=[4, 2], num_kv_heads=[2, 4], mlp_dim=[16, 16])
    )
    with pytest.raises(NasError, match=r"^layer 1: num_heads 2 is not a multiple of num_kv_heads 4"):
        model.encode_arch(model.geometry(space), bad)
    with pytest.raises(NasError, match="layer 1: num_heads 2"):
        extract(model.init(space, jax.random.key(0)), bad)
    d = space.to_dict()
    d["layer"]["num_heads"] = [2, 3]
    with pytest.raises(NasError, match="num_heads choice 3 is not a multiple of num_kv_heads choice 2"):
        model.geometry(space_from_dict(d))


def test_unimplemented_rope_scaling_and_bad_blocks_are_refused_by_name():
    from supernet import model

    with pytest.raises(NasError, match="rope_scaling' has type 'yarn', which is not implemented"):
        model.geometry(tiny_llama_space(scaling={"type": "yarn", "factor": 4.0}))
    d = tiny_llama_space().to_dict()
    d["task"]["block"] = "gpt"
    with pytest.raises(NasError, match="rope_theta' needs 'task.block: llama'"):
        model.geometry(space_from_dict(d))
    del d["task"]["rope_theta"]
    with pytest.raises(NasError, match="'num_kv_heads' needs 'task.block: llama'"):
        model.geometry(space_from_dict(d))


def test_kv_cache_counts_kv_heads_at_the_context():
    space = tiny_llama_space()
    a = ArchConfig.from_dict(ARCHS[0])
    c = complexity(space, [a], batch_size=2, seq_len=10)
    kv = sum(ARCHS[0]["num_kv_heads"])
    assert c["kv_cache_bytes"][0] == 4 * 2 * 2 * 10 * kv * 8
    assert c["kv_cache_mb"][0] == c["kv_cache_bytes"][0] / 2**20
    fewer = dict(ARCHS[0], num_kv_heads=[1, 1, 1])
    assert (
        complexity(space, [ArchConfig.from_dict(fewer)])["kv_cache_mb"][0]
        < complexity(space, [a])["kv_cache_mb"][0]
    )


def test_latency_features_see_kv_heads_and_swiglu():
    from predictors.features import feature_names, features

    space = tiny_llama_space()
    a = ArchConfig.from_dict(ARCHS[0])
    fewer = ArchConfig.from_dict(dict(ARCHS[0], num_kv_heads=[1, 1, 1]))
    names = feature_names(space)
    f = dict(zip(names, features(space, [a])[0], strict=True))
    g = dict(zip(names, features(space, [fewer])[0], strict=True))
    T, hd = 16, 8
    assert f["bytes_qkv"] == 4 * T * (sum(a.num_heads) + 2 * sum(ARCHS[0]["num_kv_heads"])) * hd
    assert g["bytes_qkv"] < f["bytes_qkv"] and g["macs_attn_proj"] < f["macs_attn_proj"]
    assert f["bytes_mlp_hidden"] == 4 * T * 3 * sum(ARCHS[0]["mlp_dim"])  # gate, up and their product
    kv_cols = [n for n in names if n.startswith("attn_layers[") and "num_kv_heads=" in n]
    assert len(kv_cols) == 2 * 2 * 2  # (embed width, heads, KV heads) layer kinds
