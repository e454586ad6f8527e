"""Predictor models, metrics and the tabular path on real and synthetic feature matrices."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED

from predictors import hat, models
from predictors.features import feature_names, features
from predictors.metrics import evaluate, scatter_plot
from predictors.tabular import load_csv, split
from search_spaces import ArchConfig, NasError, complexity, sample_batch, to_batch

HAT = SHARED / "data" / "hat"
HAT_FEATURES, HAT_TARGETS = list(hat.FEATURES), list(hat.TARGETS)


def roofline_data(space, n, seed):
    """Latency of a made-up device: launch cost + per-kind rates, with 1 % noise."""
    X = features(space, sample_batch(space, seed, n))
    rate = np.zeros(X.shape[1])
    names = feature_names(space)
    rate[names.index("macs_mlp")] = 1e-7
    rate[names.index("macs_attn_proj")] = 1.5e-7
    rate[names.index("macs_scores_softmax")] = 4e-7
    rate[names.index("depth")] = 0.02
    y = 0.05 + X @ rate
    return X, y * (1 + 0.01 * np.random.default_rng(seed).standard_normal(n))


@pytest.mark.parametrize("name,kw", [("linear", {}), ("poly2", {}), ("trees", {}), ("mlp", {"steps": 400})])
def test_models_fit_a_roofline_device(lm_space, name, kw):
    X, y = roofline_data(lm_space, 300, 0)
    Xt, yt = roofline_data(lm_space, 200, 1)
    m = models.get(name)
    p = m.fit(X, y, seed=0, **kw) if kw else m.fit(X, y, seed=0)
    assert all(isinstance(v, np.ndarray) for v in p.values())  # data, storable as npz
    mean, std = m.predict(p, Xt)
    assert mean.shape == std.shape == (200,) and (std >= 0).all()
    s = evaluate(yt, mean)
    assert s["within10_pct"] >= 85 and s["kendall_tau"] >= 0.8, s
    mean2, _ = m.predict(m.fit(X, y, seed=0, **kw), Xt)
    np.testing.assert_allclose(mean, mean2)  # same seed, same model


def test_ensemble_reports_more_uncertainty_far_from_the_data(lm_space):
    X, y = roofline_data(lm_space, 200, 0)
    m = models.get("ensemble")
    p = m.fit(X, y, seed=0, members=3, steps=300)
    mean, std = m.predict(p, X[:50])
    _, std_far = m.predict(p, X[:50] * 3)
    assert (mean > 0).all() and np.median(std_far / mean) > np.median(std / mean)


def test_unknown_model_and_bad_matrix():
    with pytest.raises(NasError, match="model"):
        models.get("xgboost")
    with pytest.raises(NasError, match="y"):
        models.get("linear").fit(np.ones((3, 2)), np.array([1.0, -1.0, 2.0]))


def test_metrics_on_known_values():
    s = evaluate(np.array([1.0, 2.0, 4.0, 10.0]), np.array([1.04, 2.15, 4.0, 5.0]))
    assert s["within5_pct"] == 50.0 and s["within10_pct"] == 75.0
    assert s["mape_pct"] == pytest.approx(100 * (0.04 + 0.075 + 0 + 0.5) / 4)
    assert s["kendall_tau"] == pytest.approx(1.0)


def test_scatter_plot_writes_a_png(tmp_path):
    p = scatter_plot(np.arange(1.0, 20.0), np.arange(1.0, 20.0) * 1.03, tmp_path / "s.png", title="t")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_features_are_vectorized_and_consistent_with_complexity(vit_space):
    b = sample_batch(vit_space, 0, 50)
    X = features(vit_space, b)
    c = complexity(vit_space, b)
    names = feature_names(vit_space)
    assert X.shape == (50, len(names))
    np.testing.assert_allclose(
        X[:, names.index("macs_scores_softmax")] + X[:, names.index("macs_scores_linear")],
        c["macs_attn_scores"],
    )
    np.testing.assert_allclose(X[:, names.index("bytes_weights")], 4 * c["params"])
    from search_spaces import from_batch

    np.testing.assert_allclose(features(vit_space, to_batch(vit_space, from_batch(vit_space, b))), X)


def test_layer_table_counts_each_layer_kind_once(vit_space):
    a = ArchConfig.make(
        depth=3,
        embed_dim=64,
        num_heads=[2, 2, 4],
        attn_type=["softmax", "softmax", "linear"],
        mlp_dim=[128, 64, 128],
    )
    names = feature_names(vit_space)
    x = dict(zip(names, features(vit_space, [a])[0], strict=True))
    assert x["model[embed_dim=64]"] == 1 and x["model[embed_dim=32]"] == 0
    assert x["attn_layers[embed_dim=64,attn_type=softmax,num_heads=2]"] == 2
    assert x["attn_layers[embed_dim=64,attn_type=linear,num_heads=4]"] == 1
    assert x["mlp_layers[embed_dim=64,mlp_dim=128]"] == 2 and x["mlp_layers[embed_dim=64,mlp_dim=64]"] == 1
    table = [n for n in names if "layers[" in n]
    assert sum(x[n] for n in table) == 2 * a.depth  # every active layer: one attention, one MLP
    assert len(names) == len(set(names)) == 23 + 3 + 3 * 3 * 2 + 3 * 4


def test_hat_split_is_the_readme_split():
    X, y = load_csv(HAT / "wmt14ende_cpu_xeon_all.csv", HAT_FEATURES, HAT_TARGETS)
    tr, te = split(len(y))
    perm = np.random.default_rng(0).permutation(2000)
    assert X.shape == (2000, 10) and (tr == perm[:1800]).all() and (te == perm[1800:]).all()


def test_csv_errors_name_the_column(tmp_path):
    with pytest.raises(NasError, match="missing column.*nope"):
        load_csv(HAT / "wmt14ende_cpu_xeon_all.csv", ["nope"], HAT_TARGETS)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,x\n5,6\n7,8\n")
    with pytest.raises(NasError, match="column 'b' line 3.*'x'"):
        load_csv(bad, ["a"], ["b"])


def test_exported_trees_walk_like_sklearn():
    from sklearn.ensemble import ExtraTreesRegressor

    from predictors.models.trees import export, leaf_values

    rng = np.random.default_rng(0)
    Z = rng.random((300, 5))
    y = Z[:, 0] * 3 + np.sin(6 * Z[:, 1])
    est = ExtraTreesRegressor(n_estimators=7, max_depth=6, random_state=0).fit(Z, y)
    Zt = rng.random((100, 5))
    want = np.stack([t.predict(Zt) for t in est.estimators_], 1)
    np.testing.assert_allclose(leaf_values(export(est), Zt), want)
