"""``nas latency measure --address``: the campaign is timed on the node tagged ``device:edge``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli
from test_cli_search import NO_AUTH, _free_port, _ray_cli


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(port)


def _node_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # code reaches workers by runtime_env
    return dict(env, **NO_AUTH, JAX_PLATFORMS="cpu")


@pytest.mark.slow
def test_measure_runs_on_the_device_node(tmp_path):
    port = _free_port()
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats", "--block"]
    head = subprocess.Popen(
        [_ray_cli(), "start", "--head", "--port", str(port), "--include-dashboard=false", *common],
        env=_node_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    edge = None
    try:
        _wait_port(port)
        edge = subprocess.Popen(
            [_ray_cli(), "start", "--address", f"127.0.0.1:{port}", "--resources", '{"device:edge": 1}', *common],
            env=_node_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        code = (
            "import ray, sys, time, json; ray.init(address=sys.argv[1], logging_level='ERROR');"
            "t = time.time()\n"
            "while time.time() - t < 60 and not ray.cluster_resources().get('device:edge'): time.sleep(0.5)\n"
            "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive'] and 'device:edge' in n['Resources']]))"
        )
        r = subprocess.run(
            [sys.executable, "-c", code, f"127.0.0.1:{port}"],
            env=dict(os.environ, **NO_AUTH), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        (edge_id,) = json.loads(r.stdout.strip().splitlines()[-1])
        out = tmp_path / "edge.jsonl"
        args = ("latency", "measure", "--space", "vit-mnist", "--device", "edge", "--out", out,
                "--address", f"127.0.0.1:{port}", "--n", "3", "--references", "1", "--rounds", "2",
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
    finally:
        for p in (edge, head):
            if p is not None:
                p.send_signal(signal.SIGTERM)  # stops exactly the processes this test started
                p.wait(timeout=60)
