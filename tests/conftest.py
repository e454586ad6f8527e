"""Shared fixtures: the CLI through a real subprocess, paths, and the built-in spaces."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NO_AUTH = {"RAY_AUTH_MODE": "disabled"}  # a test cluster is ours alone; no shared token file

# One XLA compilation cache for the session, shared by this process, the CLI subprocesses
# and Ray workers (supernet/cache.py): the same small programs are compiled in dozens of
# processes.  A fresh folder per session keeps runs independent of earlier ones.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _xla = tempfile.mkdtemp(prefix="nas-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _xla
    atexit.register(shutil.rmtree, _xla, ignore_errors=True)
from supernet.cache import enable_compile_cache  # noqa: E402

enable_compile_cache()


def run_cli(*args: str, cwd: str | Path | None = None, timeout: float = 600, env: dict | None = None):
    """Runs ``python -m nas ARGS`` in a fresh process; returns the CompletedProcess."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.setdefault("JAX_PLATFORMS", "cpu")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "nas", *map(str, args)],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def cli():
    return run_cli


@pytest.fixture(scope="session")
def vit_space():
    from search_spaces import load_space

    return load_space("vit-mnist")


@pytest.fixture(scope="session")
def lm_space():
    from search_spaces import load_space

    return load_space("charlm-shakespeare")


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session (2 CPUs); searches run in it reuse it."""
    import ray

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": os.environ["JAX_COMPILATION_CACHE_DIR"],
    }
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_supernet(tmp_path_factory):
    """A real supernet of experiments/spaces/vit-tiny.yaml trained for a few steps (Orbax checkpoint)."""
    from supernet.config import load_config
    from supernet.train import train_and_evaluate

    workdir = tmp_path_factory.mktemp("tiny-supernet")
    train_and_evaluate(load_config(ROOT / "experiments/train_tiny.yaml"), workdir, quiet=True)
    return workdir


@pytest.fixture(scope="session")
def tiny_search_run(tmp_path_factory, tiny_supernet, ray_local):
    """A finished evolutionary search over the tiny supernet, on the session's local Ray."""
    from nas import runner, search_config

    raw = {
        "space": str(ROOT / "experiments/spaces/vit-tiny.yaml"),
        "evaluators": [{"kind": "supernet", "workdir": str(tiny_supernet)}, {"kind": "complexity"}],
        "objectives": [{"metric": "accuracy", "goal": "max"}, {"metric": "flops", "goal": "min"}],
        "constraints": ["params <= 2e5"],
        "strategy": {"name": "evolution", "population": 4},
        "budget": 8,
        "seed": 0,
        "workers": 1,
    }
    run_dir = tmp_path_factory.mktemp("tiny-search") / "run"
    runner.run_search(search_config.check(raw), run_dir, workers=1, progress=False)
    return run_dir


def ray_cli() -> str:
    """The `ray` command of this interpreter's environment (the venv need not be on PATH)."""
    here = Path(sys.executable).parent / "ray"
    return str(here) if here.exists() else (shutil.which("ray") or "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(port)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A two-node Ray cluster started with ``ray start`` on 127.0.0.1: a head and a node tagged
    ``device:edge``, one CPU each.  Neither has this repository on its ``PYTHONPATH`` and both
    run in an empty folder, so what a job's workers import comes with its ``runtime_env``.
    Yields ``{"address": "127.0.0.1:PORT", "edge": node id of the tagged node}``."""
    home = tmp_path_factory.mktemp("ray-cluster")
    env = dict({k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **NO_AUTH, JAX_PLATFORMS="cpu")
    port = free_port()
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats", "--block"]
    quiet = dict(env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    head = subprocess.Popen(
        [ray_cli(), "start", "--head", "--port", str(port), "--include-dashboard=false", *common], **quiet
    )
    edge = None
    try:
        _wait_port(port)
        edge = subprocess.Popen(
            [ray_cli(), "start", "--address", f"127.0.0.1:{port}", "--resources", '{"device:edge": 1}', *common],
            **quiet,
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
        yield {"address": f"127.0.0.1:{port}", "edge": edge_id}
    finally:
        for p in (edge, head):
            if p is not None:
                p.send_signal(signal.SIGTERM)  # stops exactly the processes this fixture started
                p.wait(timeout=60)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A bundle in the format write_bundle writes (config.json + Orbax weights), built directly."""
    import jax
    import orbax.checkpoint as ocp

    from nas.export.bundle import FORMAT_VERSION, manifest
    from search_spaces import load_space
    from supernet import standalone

    space = load_space(ROOT / "experiments/spaces/vit-tiny.yaml")
    arch = space.largest()
    path = tmp_path_factory.mktemp("bundle") / "b"
    path.mkdir()
    variables = standalone.init(space, arch, jax.random.key(0))
    ckpt = ocp.StandardCheckpointer()
    ckpt.save((path / "weights").absolute(), variables)
    ckpt.wait_until_finished()
    config = {"format_version": FORMAT_VERSION, "space": space.to_dict(), "arch": arch.to_dict(),
              "checksums": manifest(path)}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    return path
