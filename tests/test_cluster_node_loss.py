"""Nodes lost mid-search (their raylets killed with ``kill -9``) on a real ``ray start`` cluster
on 127.0.0.1: the driver says so in one line and goes on with the node that is left, or stops
with one line when none is; ``--resume`` finishes the search to the same results as an
uninterrupted run; Ray's own log lines stay out of its output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
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

# The head notices a silent raylet in a few seconds instead of Ray's default 15 s (300 ms checks
# with 300 ms answers and 3 misses marked a node dead while it started on a busy CI machine).
FAST_HEALTH = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "5",
               "RAY_health_check_timeout_ms": "1500"}  # fmt: skip


def _start(args: list[str], home, cpus: int = 1) -> subprocess.Popen:
    env = dict({k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **NO_AUTH, **FAST_HEALTH)
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--disable-usage-stats", "--block"]
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


def _cpus(address: str, n: int) -> float:
    """The cluster's alive CPUs, once they are ``n`` or after 60 s (a raylet runs before it registers)."""
    code = (
        "import ray, sys, time; ray.init(address=sys.argv[1], logging_level='ERROR'); t = time.time()\n"
        "while time.time() - t < 60 and ray.cluster_resources().get('CPU', 0) != int(sys.argv[2]): time.sleep(0.2)\n"
        "print(ray.cluster_resources().get('CPU', 0))"
    )
    env = dict(os.environ, **NO_AUTH)
    out = subprocess.run([sys.executable, "-c", code, address, str(n)], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out
    return float(out.stdout.strip())


def _start_nodes(address: str, home, n: int, started: list[subprocess.Popen]) -> list[subprocess.Popen]:
    """``n`` one-CPU nodes joined to the head, each registered: a node that dies while it starts
    (``ray start --block`` exits with its raylet) is started again, up to three times.  Every
    process started is also appended to ``started`` (for the caller's clean-up)."""
    procs: list[subprocess.Popen] = []
    for _ in range(3):
        procs = [p for p in procs if p.poll() is None]
        new = [_start(["--address", address], home) for _ in range(n - len(procs))]
        started += new
        procs += new
        if _cpus(address, n) == n and all(p.poll() is None for p in procs):
            return procs
        time.sleep(2)  # let a node that was marked dead exit
    raise AssertionError(f"{n} nodes did not register: {_cpus(address, n)} CPUs alive")


def _records(history) -> list[dict]:
    return [json.loads(x) for x in history.read_text().splitlines()] if history.exists() else []


def _wait_for(what: str, cond, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.poll() is not None or not cond():
        proc.kill()
        raise AssertionError(f"{what}: exit {proc.poll()}, condition {cond()}: {proc.stderr.read()[-3000:]}")


def _check_quiet(stdout: str, stderr: str) -> None:
    for noise in ("[state-dump]", "marked dead", "raylet", "(pid="):  # Ray's own messages stay out
        assert noise not in (stdout + stderr).lower(), (noise, stdout, stderr)


@pytest.mark.slow
def test_lost_nodes_are_named_the_search_goes_on_then_stops_and_resumes_to_the_same_results(
    tmp_path, monkeypatch
):
    """A head without CPUs and two one-CPU nodes: the first node's raylet killed, the search goes
    on with the other; that one killed too, it stops (exit 2, history kept); a fresh node
    joins and --resume finishes it.  The 24 records equal an uninterrupted run's."""
    home, cwd = tmp_path / "ray", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    (cwd / "slowev.py").write_text(EVALUATOR)
    raw = {
        "space": "vit-mnist",
        "evaluators": [{"kind": "callable", "target": "slowev:slow", "options": {"sleep": 0.3}}],
        "objectives": ["max score"],
        "strategy": {"name": "random"},
        "budget": 24,
        "seed": 0,
        "lag": 2,
    }
    (cwd / "search.yaml").write_text(yaml.safe_dump(raw))
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = [_start(["--head", "--port", str(port), "--include-dashboard=false"], home, cpus=0)]
    run, history = tmp_path / "run", tmp_path / "run" / "history.jsonl"
    env = dict(os.environ, **NO_AUTH, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    nas = [sys.executable, "-m", "nas", "search"]
    try:
        _wait_port(port)
        raylets = [_raylet(n) for n in _start_nodes(address, home, 2, nodes)]
        cmd = [*nas, "search.yaml", "--address", address, "--run-dir", str(run), "--placement-timeout", "2"]
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        _wait_for(
            "both nodes at work", lambda: len({r["worker"] for r in _records(history)}) == 2, proc
        )  # both nodes at work
        raylets[0].send_signal(signal.SIGKILL)
        _wait_for("a lost node", lambda: any(") lost" in ln for ln in lines), proc)  # the worker is given up
        raylets[1].send_signal(signal.SIGKILL)
        stderr = proc.communicate(timeout=180)[1]
        reader.join(timeout=60)
        stdout = "".join(lines)
        assert proc.returncode == 2, stderr[-3000:]
        before = _records(history)
        assert 0 < len(before) < 24
        lost = [ln for ln in stdout.splitlines() if ") lost" in ln]
        assert len(lost) == 1, stdout
        assert re.match(
            r"node \S+ \([0-9a-f]{8}\) lost \(.+\); 1 Ray worker waited 2 s for \{CPU: 1\}", lost[0]
        )
        assert lost[0].endswith("going on with 1 worker"), lost
        last = next(ln for ln in stderr.splitlines() if ln.startswith("error: "))
        assert last.startswith("error: node ") and "no worker left" in last and "--resume" in last, stderr
        _check_quiet(stdout, stderr.replace(last, ""))

        nodes.append(_start(["--address", address], home))  # a node joins again
        cmd = [*nas, "--resume", str(run), "--address", address, "--placement-timeout", "60"]
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        for p in reversed(nodes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)  # exactly the processes this test started
                p.wait(timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    _check_quiet(out.stdout, out.stderr)
    recs = sorted(_records(history), key=lambda r: r["index"])
    assert [r["index"] for r in recs] == list(range(24))
    assert all(recs[r["index"]] == r for r in before)  # kept, not evaluated again
    monkeypatch.syspath_prepend(str(cwd))
    full = runner.run_search(search_config.load(cwd / "search.yaml"), tmp_path / "full", executor="driver",
                             progress=False)  # fmt: skip
    assert [(r["arch"], r["metrics"]) for r in recs] == [(r["arch"], r["metrics"]) for r in full.records]
