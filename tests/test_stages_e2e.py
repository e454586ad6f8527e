"""Staged spaces end to end: train, search, export (bundle, StableHLO, ONNX), predict; latency
features; and a bad stage at the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search_spaces import load_space, to_batch

ROOT = Path(__file__).resolve().parents[1]
MICRO = ROOT / "experiments/spaces/resnas-micro.yaml"


def test_stage_features_see_every_stage():
    from predictors import features as feats

    space = load_space("elasticvit-tiny")
    archs = space.sample_many(0, 8)
    X = feats.features(space, archs, batch_size=2)
    names = feats.feature_names(space)
    assert X.shape == (8, len(names)) and np.isfinite(X).all()
    b = to_batch(space, archs)
    for s in range(len(space.stages)):  # each stage's table rows count its active layers
        table = [i for i, n in enumerate(names) if n.startswith(f"s{s}:")]
        per_kind = 2 if space.stages[s].block == "transformer" else 1
        assert (X[:, table].sum(1) == per_kind * b.values[f"s{s}_depth"]).all()
    # a kernel change alone moves the MBConv MACs and the table, not the transformer columns
    a = archs[0].replace(s0_kernel_size_0=3)
    bigger = feats.features(space, [a, a.replace(s0_kernel_size_0=7)])
    diff = np.flatnonzero(bigger[0] != bigger[1])
    assert {names[i] for i in diff} >= {"macs_conv", "s0_macs"}
    assert not any(names[i].startswith(("s2", "s3", "macs_attn")) for i in diff)


def test_docs_command_and_a_bad_stage_is_one_line_exit_2(cli, tmp_path):
    r = cli("spaces", "show", "vit-resnas-tiny")  # docs/stages.md
    assert r.returncode == 0, r.stderr
    # (2 widths x (2^2 + 4^2 layer choices)) x (2 x (4 + 16 + 64)) x (2 x (4 + 16)) = 40 x 168 x 40
    assert "s2_embed_dim" in r.stdout and "268,800 distinct architectures" in r.stdout
    text = MICRO.read_text().replace("embed_dim: [24]", "embed_dim: [8]")  # shrinks across RSR
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    r = cli("spaces", "show", bad)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "stage 1 field 'embed_dim'" in r.stderr


@pytest.mark.slow
def test_staged_train_search_export_predict(cli, ray_local, tmp_path):
    import jax

    from nas import runner, search_config
    from nas.export.from_run import export_run
    from supernet import checkpoint, model
    from supernet.config import load_config
    from supernet.train import train_and_evaluate

    cfg = load_config(ROOT / "experiments/train_stages_tiny.yaml")
    cfg.update(space=str(MICRO), steps=3, checkpoint_every=3)
    work = tmp_path / "train"
    train_and_evaluate(cfg, work, quiet=True)
    raw = {
        "space": str(MICRO),
        "evaluators": [{"kind": "supernet", "workdir": str(work)}, {"kind": "complexity"}],
        "objectives": [{"metric": "accuracy", "goal": "max"}, {"metric": "flops", "goal": "min"}],
        "strategy": {"name": "random"},
        "budget": 3,
        "seed": 0,
        "workers": 1,
    }
    run = tmp_path / "search"
    runner.run_search(search_config.check(raw), run, workers=1, progress=False)
    (bundle,) = export_run(run, select="best", out=tmp_path / "best", onnx=True)
    cfg_b = json.loads((bundle / "config.json").read_text())
    assert (bundle / "model.onnx").exists() and (bundle / "model.stablehlo").exists()
    assert cfg_b["onnx_max_abs_error"] <= 1e-4
    space, params, _ = checkpoint.load(work)
    arch = space.parse(cfg_b["arch"])
    x = np.random.default_rng(0).random((4, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    want = np.asarray(jax.jit(lambda p, x: model.apply(p, x, arch, geo=model.geometry(space)))(params, x))
    r = cli("predict", bundle, tmp_path / "x.npy")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["class"] for line in r.stdout.splitlines()] == want.argmax(-1).tolist()


@pytest.mark.slow
def test_onnx_runtime_agrees_on_mbconv_windows_q_pooling_and_mixers():
    """One tiny space holds every staged op the ONNX export meets: MBConv (kernel 7), a 2x2
    strided convolution with its pooled shortcut (residual spatial reduction), window
    partitioning, Q-pooling, and the token mixers linear, dft (in windows) and cga."""
    import jax

    from nas.export.bundle import export_onnx
    from supernet import any_model

    space = load_space(ROOT / "experiments/spaces/stages-mixers-tiny.yaml")
    arch = space.largest().replace(s0_kernel_size_0=7, s1_depth=2, s1_num_heads_0=2, s1_num_heads_1=1)
    arch = space.validate(
        arch.replace(s1_mixer_0="linear", s1_mixer_1="dft", s2_mixer_0="cga", s2_num_heads_0=3)
    )
    variables = any_model.init(space, arch, jax.random.key(0))
    _, err = export_onnx(space, arch, variables)
    assert err <= 1e-4
