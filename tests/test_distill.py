"""Training from an imported GPT-2 checkpoint: inplace distillation, defaults, kill and resume."""

from __future__ import annotations

import functools
import json
import os
import signal

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.gpt2_reference import write_tiny_gpt2

os.environ.setdefault("JAX_PLATFORMS", "cpu")
CONFIG = ROOT / "experiments/train_from_gpt2.yaml"
TINY = [
    "steps=4",
    "batch_size=8",
    "warmup_steps=1",
    "checkpoint_every=2",
    "log_every=1",
    "eval_batch_size=16",
    "eval_max_examples=32",
]


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "tiny", scale=0.05)


def test_distillation_changes_the_loss_small_subnets_optimize(gpt2_folder):
    import jax
    import optax

    from search_spaces import load_space
    from supernet import data, model, pretrained
    from supernet.config import load_config
    from supernet.train import StepFns, make_optimizer

    space = load_space(ROOT / "experiments/spaces/gpt2-tiny.yaml")
    geo = model.geometry(space)
    cfg = load_config(CONFIG, TINY)
    params = pretrained.load_params(gpt2_folder, space)
    tx = make_optimizer(cfg)
    fns = StepFns(geo, tx)
    x, y = data.train_batch(data.load(space), step=0, batch_size=8, seed=0)
    small = {"embed_dim": 32, "depth": 1, "num_heads": [2], "mlp_dim": [64], "attn_type": ["softmax"]}
    archs = [space.largest(), space.parse(small)]  # one width: fewer compiles
    put = jax.numpy.asarray

    def logits(arch):
        return model.apply(params, x, arch, geo=geo)

    runs = {d: fns.step(params, tx.init(params), x, y, archs, distill=d, put=put)[2] for d in (False, True)}
    label_ce = [float(optax.softmax_cross_entropy_with_integer_labels(logits(a), y).mean()) for a in archs]
    soft = jax.nn.softmax(logits(archs[0]))
    kd = float(optax.softmax_cross_entropy(logits(archs[1]), soft).mean())
    np.testing.assert_allclose(runs[False], label_ce, rtol=1e-5)
    np.testing.assert_allclose(runs[True], [label_ce[0], kd], rtol=1e-5)  # the largest keeps the labels
    assert abs(kd - label_ce[1]) > 1e-3
    E, codes = model.encode_arch(geo, archs[1])
    grads = [fns.grad(params, x, y, put(codes), t, geo=geo, embed_dim=E)[1] for t in (None, soft)]
    g = [np.asarray(gr["layers"]["fc1"]["kernel"][0]) for gr in grads]
    assert np.abs(g[0] - g[1]).max() > 1e-3 * np.abs(g[0]).max()  # so does its gradient

    # a frozen teacher's soft targets replace the largest subnet's own
    frozen = jax.tree.map(lambda a: a * 1.1, params)
    t = fns.teacher(frozen, x, archs[0], put=put)
    _, _, losses = fns.step(params, tx.init(params), x, y, archs, distill=True, put=put, teacher=t)
    want = float(optax.softmax_cross_entropy(logits(archs[1]), t).mean())
    np.testing.assert_allclose(losses, [label_ce[0], want], rtol=1e-5)


def test_distillation_is_on_by_default_only_from_a_checkpoint(gpt2_folder, cli, tmp_path):
    from search_spaces.errors import NasError
    from supernet.config import distill_on, load_config

    assert distill_on(load_config(CONFIG, [f"init_from={gpt2_folder}"]))
    assert not distill_on(load_config(CONFIG, [f"init_from={gpt2_folder}", "distill=false"]))
    assert not distill_on(load_config(CONFIG))
    assert distill_on(load_config(CONFIG, ["distill=true"]))
    with pytest.raises(NasError, match="'distill_teacher' is 'pretrained' but 'init_from' is not set"):
        load_config(CONFIG, ["distill_teacher=pretrained"])
    with pytest.raises(NasError, match="field 'init_order' is 'random'"):
        load_config(CONFIG, ["init_order=random"])
    with pytest.raises(NasError, match="field 'distill' is 'maybe'"):
        load_config(CONFIG, ["distill=maybe"])
    bad = write_tiny_gpt2(tmp_path / "bad", inner=96)
    r = cli("train", CONFIG, "--workdir", tmp_path / "w2", "--init-from", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"error: {bad}: n_inner is 96 but space 'gpt2-tiny' has largest mlp_dim 128"
    ]
    assert not (tmp_path / "w2" / "checkpoints").exists()


def _losses(workdir):
    lines = [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["losses"] for r in lines if "losses" in r}, [
        r["final"] for r in lines if "final" in r
    ]


@pytest.mark.slow
def test_killed_run_from_a_checkpoint_with_distillation_resumes_exactly(gpt2_folder, cli, tmp_path):
    cache = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache")}
    cache.update(
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0"
    )
    cli = functools.partial(cli, env=cache)  # the three runs compile the same programs once
    args = ["train", CONFIG, "--init-from", gpt2_folder, "--quiet"]
    sets = [a for s in [*TINY, "distill_teacher=pretrained"] for a in ("--set", s)]
    r = cli(*args, "--workdir", tmp_path / "full", *sets)
    assert r.returncode == 0, r.stderr[-3000:]
    full, final = _losses(tmp_path / "full")
    assert sorted(full) == [1, 2, 3, 4] and all(len(v) == 3 for v in full.values())  # sandwich k=1
    r = cli(*args, "--workdir", tmp_path / "cut", *sets, "--set", "crash_after_step=3")
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    r = cli(*args, "--workdir", tmp_path / "cut", *sets)
    assert r.returncode == 0, r.stderr[-3000:]
    resumed, final2 = _losses(tmp_path / "cut")
    assert resumed == full and final2 == final
    other = write_tiny_gpt2(tmp_path / "other", seed=1)
    r = cli("train", CONFIG, "--init-from", other, "--workdir", tmp_path / "cut", *sets, "--set", "steps=6")
    assert r.returncode == 2 and "is not the checkpoint this run" in r.stderr
