"""A node lost mid-search (its raylet killed with ``kill -9``) on a real two-node ``ray start``
cluster on 127.0.0.1: the driver says so in one line and goes on with the node that is left,
to the same results as an uninterrupted run; Ray's own log lines stay out of its output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml
from conftest import NO_AUTH, ROOT, _wait_port, free_port, ray_cli

from nas import runner, search_config

# Deterministic metrics, slow enough that the kill lands mid-search.
EVALUATOR = """import time, zlib

def slow(archs, sleep=0.0):
    time.sleep(sleep * len(archs))
    return [{"score": float(zlib.crc32(a.to_json().encode()) % 1000)} for a in archs]
"""

# The head notices a silent raylet in about a second instead of Ray's default 15 s.
FAST_HEALTH = {"RAY_health_check_period_ms": "300", "RAY_health_check_failure_threshold": "3",
               "RAY_health_check_timeout_ms": "300"}  # fmt: skip


def _start(args: list[str], home) -> subprocess.Popen:
    env = dict({k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **NO_AUTH, **FAST_HEALTH)
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats", "--block"]
    return subprocess.Popen(
        [ray_cli(), "start", *args, *common],
        env=dict(env, JAX_PLATFORMS="cpu"), cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _raylet(proc: subprocess.Popen) -> psutil.Process:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() == "raylet"]
        if found:
            return found[0]
        time.sleep(0.2)
    raise TimeoutError("no raylet")


@pytest.mark.slow
def test_a_node_lost_mid_search_is_named_and_the_search_goes_on_to_the_same_results(tmp_path, monkeypatch):
    home, cwd = tmp_path / "ray", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    (cwd / "slowev.py").write_text(EVALUATOR)
    raw = {
        "space": "vit-mnist",
        "evaluators": [{"kind": "callable", "target": "slowev:slow", "options": {"sleep": 0.3}}],
        "objectives": ["max score"],
        "strategy": {"name": "random"},
        "budget": 16,
        "seed": 0,
        "lag": 2,
    }
    (cwd / "search.yaml").write_text(yaml.safe_dump(raw))
    port = free_port()
    head = _start(["--head", "--port", str(port), "--include-dashboard=false"], home)
    node = None
    try:
        _wait_port(port)
        node = _start(["--address", f"127.0.0.1:{port}"], home)
        raylet = _raylet(node)
        env = dict(os.environ, **NO_AUTH, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
        cmd = [sys.executable, "-m", "nas", "search", "search.yaml", "--address", f"127.0.0.1:{port}",
               "--run-dir", str(tmp_path / "run"), "--placement-timeout", "2"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        history = tmp_path / "run" / "history.jsonl"
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            recs = history.read_text().splitlines() if history.exists() else []
            if len({json.loads(r)["worker"] for r in recs}) == 2:  # both nodes at work
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        raylet.send_signal(signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        for p in (node, head):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)  # exactly the processes this test started
                p.wait(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    lost = [ln for ln in stdout.splitlines() if ") lost" in ln]
    assert len(lost) == 1, stdout
    assert re.match(
        r"node \S+ \([0-9a-f]{8}\) lost \(.+\); 1 Ray worker waited 2 s for \{CPU: 1\}", lost[0]
    ), lost
    assert lost[0].endswith("going on with 1 worker")
    for noise in ("[state-dump]", "marked dead", "raylet", "(pid="):  # Ray's own messages stay out
        assert noise not in (stdout + stderr).lower(), (noise, stdout, stderr)
    recs = sorted((json.loads(x) for x in history.read_text().splitlines()), key=lambda r: r["index"])
    assert [r["index"] for r in recs] == list(range(16))
    monkeypatch.syspath_prepend(str(cwd))
    full = runner.run_search(search_config.load(cwd / "search.yaml"), tmp_path / "full", executor="driver",
                             progress=False)  # fmt: skip
    assert [(r["arch"], r["metrics"]) for r in recs] == [(r["arch"], r["metrics"]) for r in full.records]
