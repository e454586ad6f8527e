"""End to end: a tiny data-parallel run on 2 host devices, killed and resumed with real Orbax checkpoints."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.conftest import ROOT


def _losses(workdir):
    lines = [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["losses"] for r in lines if "losses" in r}, [r for r in lines if "final" in r]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax-cache")
    return {
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


@pytest.fixture(scope="module")
def uninterrupted(cli, env, tmp_path_factory):
    wd = tmp_path_factory.mktemp("full")
    r = cli("train", ROOT / "experiments/train_tiny.yaml", "--workdir", wd, "--log-format", "json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr == ""  # no JAX, absl or Orbax log lines around the checkpoints (no bar: not a tty)
    # for scripts: stdout holds what was read (data.json) and then exactly the lines of
    # metrics.jsonl (every step, then the final record)
    first, *rest = r.stdout.splitlines()
    assert json.loads(first) == {"data": json.loads((wd / "data.json").read_text())}
    assert rest == (wd / "metrics.jsonl").read_text().splitlines()
    assert all(isinstance(json.loads(x), dict) for x in r.stdout.splitlines())
    return wd


@pytest.mark.slow
def test_killed_run_resumes_exactly(cli, env, uninterrupted, tmp_path):
    full, final = _losses(uninterrupted)
    assert sorted(full) == list(range(1, 9)) and final and final[0]["devices"] == 2
    # the process dies after step 5 (checkpoints every 3 steps): no cleanup at all
    r = cli(
        "train",
        ROOT / "experiments/train_tiny.yaml",
        "--workdir",
        tmp_path,
        "--quiet",
        "--set",
        "crash_after_step=5",
        env=env,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    partial, _ = _losses(tmp_path)
    assert sorted(partial) == [1, 2, 3, 4, 5]
    r = cli("train", ROOT / "experiments/train_tiny.yaml", "--workdir", tmp_path, "--quiet", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr == ""  # restoring the checkpoint is silent too
    resumed, final2 = _losses(tmp_path)
    assert resumed == full  # every step's subnet losses, bit for bit
    assert final2[0]["final"] == final[0]["final"]


@pytest.mark.slow
def test_evaluator_scores_many_subnets_with_few_compiles(uninterrupted):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from supernet import checkpoint, evaluation

    space, params, config = checkpoint.load(uninterrupted)
    assert config["restored_step"] == 8 and space.name == "vit-tiny"
    before = evaluation.compiles()
    evaluator = evaluation.load_evaluator(str(uninterrupted))
    archs = space.sample_many(0, 12)
    results = evaluator(archs)
    assert len(results) == 12
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["loss"] > 0 for r in results)
    assert evaluation.compiles() - before <= len(space.global_dims["embed_dim"])
    assert evaluator(archs[:3]) == results[:3]


def test_cli_eval_and_train_report_bad_input(cli, tmp_path):
    r = cli("eval", "--workdir", tmp_path, "--arch", tmp_path / "a.json")
    assert r.returncode == 2 and "holds no checkpoints" in r.stderr
    r = cli(
        "train", ROOT / "experiments/train_tiny.yaml", "--workdir", tmp_path, "--set", "sampler.name=nope"
    )
    assert r.returncode == 2 and "'sampler.name' is 'nope'" in r.stderr and "Traceback" not in r.stderr
    r = cli("train", ROOT / "experiments/train_tiny.yaml", "--set", "steps=zero")
    assert r.returncode == 2 and "'steps'" in r.stderr
