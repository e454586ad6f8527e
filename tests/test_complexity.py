"""Complexity formulas: hand-checked values, consistency, and vectorized speed."""

from __future__ import annotations

import numpy as np
import pytest

from search_spaces import ArchConfig, NasError, SearchSpace, complexity, params, sample_batch


def test_vit_params_by_hand(vit_space):
    a = ArchConfig.make(depth=1, embed_dim=32, num_heads=[2], mlp_dim=[64], attn_type=["softmax"])
    E, A, M, P, T, C = 32, 2 * 16, 64, 49, 16, 10
    expected = (
        (P * E + E) + T * E + (4 * E + 3 * E * A + 3 * A + A * E + E + 2 * E * M + M + E) + 2 * E + E * C + C
    )
    assert params(vit_space, a) == expected


def test_lm_flops_by_hand(lm_space):
    a = ArchConfig.make(
        depth=2, embed_dim=64, num_heads=[2, 4], mlp_dim=[128, 256], attn_type=["softmax", "linear"]
    )
    c = complexity(lm_space, [a], batch_size=3)
    B, T, E, V, hd = 3, 64, 64, 128, 16
    assert c["macs_attn_scores"][0] == 2 * B * T * T * 32 + 2 * B * T * 64 * hd
    assert c["macs_mlp"][0] == 2 * B * T * E * (128 + 256)
    assert c["macs_head"][0] == B * T * E * V
    assert c["flops"][0] == 2 * c["macs"][0]
    kinds = sum(c[f"macs_{k}"][0] for k in ("embed", "attn_proj", "attn_scores", "mlp", "head"))
    assert c["macs"][0] == kinds


def test_linear_attention_is_cheaper_on_long_context(lm_space):
    soft = ArchConfig.make(
        depth=2, embed_dim=64, num_heads=[4, 4], mlp_dim=[128, 128], attn_type=["softmax", "softmax"]
    )
    lin = soft.replace(attn_type=["linear", "linear"])
    cs, cl = complexity(lm_space, [soft, lin])["macs_attn_scores"]
    assert cl < cs
    assert params(lm_space, soft) == params(lm_space, lin)


def test_flops_scale_with_batch_and_are_monotone_in_depth(vit_space):
    a = vit_space.sample(3)
    f1 = complexity(vit_space, [a])["flops"][0]
    f4 = complexity(vit_space, [a], batch_size=4)["flops"][0]
    assert f4 == pytest.approx(4 * f1)
    lo, hi = vit_space.smallest(), vit_space.largest()
    c = complexity(vit_space, [lo, hi])
    assert (c["params"][0] < c["params"][1]) and (c["flops"][0] < c["flops"][1])
    assert (c["act_bytes"] > 0).all()


def test_batch_matches_objects(lm_space):
    from search_spaces import from_batch

    b = sample_batch(lm_space, 0, 300)
    archs = from_batch(lm_space, b)
    c1, c2 = complexity(lm_space, b), complexity(lm_space, archs)
    for k in c1:
        np.testing.assert_array_equal(c1[k], c2[k])


def test_100k_configs_vectorized(vit_space):
    """Scoring is columnar (speed is reported by benchmarks/bench_complexity.py, not asserted here)."""
    b = sample_batch(vit_space, 0, 100_000)
    c = complexity(vit_space, b)
    assert c["flops"].shape == (100_000,) and np.isfinite(c["flops"]).all()
    from search_spaces import from_batch

    some = from_batch(vit_space, b)[:50]
    np.testing.assert_array_equal(complexity(vit_space, some)["flops"], c["flops"][:50])


def test_user_space_without_task_is_a_clear_error():
    s = SearchSpace(name="u", max_depth=2, layer_dims={"k": [1, 2]})
    with pytest.raises(NasError, match="task.kind"):
        complexity(s, [s.sample(0)])
