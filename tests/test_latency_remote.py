"""``nas latency measure --address``: the campaign is timed on the node tagged ``device:edge``."""

from __future__ import annotations

import json

import pytest
from conftest import NO_AUTH, ROOT, run_cli


@pytest.mark.slow
def test_measure_runs_on_the_device_node(tmp_path, ray_cluster):
    address, edge_id = ray_cluster["address"], ray_cluster["edge"]
    out = tmp_path / "edge.jsonl"
    args = ("latency", "measure", "--space", "vit-mnist", "--device", "edge", "--out", out,
            "--address", address, "--n", "3", "--references", "1", "--rounds", "2",
            "--repeats", "2", "--warmup", "1", "--group", "2", "--batch", "2")  # fmt: skip
    # From another folder: Ray puts the driver's folder on its workers' sys.path, which
    # on one machine would hide whether the code came with runtime_env.
    r = run_cli(*args, env=NO_AUTH, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 3
    for rec in recs:
        assert rec["node"]["node_id"] == edge_id and rec["device"] == "edge"
        assert rec["fingerprint"]["batch_size"] == 2 and rec["fingerprint"]["cpu_model"]
        assert str(ROOT) not in rec["node"]["code"]  # the package came with runtime_env
    assert len(recs[0]["ref_ms"]) == 1
    r = run_cli(*args, env=NO_AUTH)  # resumes: nothing measured twice
    assert r.returncode == 0 and len(out.read_text().splitlines()) == 3
    bad = run_cli(*[a if a != "edge" else "jetson" for a in args], env=NO_AUTH)
    assert bad.returncode == 2 and "device:jetson" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_calibrate_check_times_on_the_device_node(tmp_path, ray_cluster):
    """`nas latency calibrate --check N --address` checks a device's predictor on its own node."""
    import shutil

    from predictors.registry import SHIPPED

    dev = tmp_path / "reg" / "edge"  # this machine's predictor, under the edge node's device name
    dev.mkdir(parents=True)
    for f in ("vit-mnist.json", "vit-mnist.npz"):
        shutil.copy(SHIPPED / "cpu-host" / f, dev)
    env = dict(NO_AUTH, NAS_PREDICTORS=str(tmp_path / "reg"))
    r = run_cli("latency", "calibrate", "--device", "edge", "--space", "vit-mnist", "--check", "3",
                "--rounds", "1", "--address", ray_cluster["address"], env=env, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["node"]["node_id"] == ray_cluster["edge"] and len(out["archs"]) == 3
    assert out["speed_factor"] > 0 and out["on_scale"]["n"] == 3
