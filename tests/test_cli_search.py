"""``nas search`` through real subprocesses: errors, kill and resume, a ``ray start`` cluster."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import yaml
from conftest import NO_AUTH, ROOT, run_cli

from experiments.make_tabular import SPACE_FILE, TABLE_FILE
from nas import run_outputs, runner, search_config
from search_spaces.errors import NasError


def write_config(tmp_path, **extra) -> str:
    raw = {
        "space": str(SPACE_FILE),
        "evaluators": [{"kind": "table", "path": str(TABLE_FILE)}],
        "objectives": ["max accuracy", "min params"],
        "constraints": ["flops <= 4e6"],
        "strategy": {"name": "nsga2", "population": 8},
        "budget": 16,
        "seed": 0,
        "lag": 2,
    }
    raw.update(extra)
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope.yaml"], "search config 'nope.yaml' does not exist"),
        (["CFG", "--set", "budgett=3"], "unknown field 'budgett'"),
        (["CFG", "--set", "budget"], "expected KEY=VALUE"),
        (["CFG", "--set", "budget=0"], "field 'budget': expected an integer >= 1, got 0"),
        (["CFG", "--set", "constraints=[params <> 3]"], "field 'constraints[0]'"),
        (
            ["CFG", "--set", 'objectives=["max latency_ms[cpu-host]"]'],
            "metric 'latency_ms[cpu-host]' is not given",
        ),
        (["CFG", "--set", "strategy.name=cmaes"], "unknown strategy 'cmaes'"),
        (["CFG", "--set", "strategy.popsize=3"], "field 'strategy.popsize'"),
        (["CFG", "--set", "evaluators=[{kind: oracle}]"], "unknown evaluator 'oracle'"),
        (["CFG", "--set", "constraints=[flops <= 1]"], "constraint region looks empty"),
        (["--resume", "/nonexistent/run"], "no search there"),
        (["CFG", "--placement-timeout", "0"], "--placement-timeout: expected seconds > 0, got 0"),
        ([], "give a search CONFIG.yaml"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, args, message):
    cfg = write_config(tmp_path)
    args = [cfg if a == "CFG" else a for a in args]
    out = run_cli("search", *args, "--run-dir", str(tmp_path / "run"), "--no-progress", env=NO_AUTH)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], out.stderr
    assert "Traceback" not in out.stderr


def _cli_env() -> dict:
    env = dict(os.environ, **NO_AUTH)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_pareto_front(ray_local, tmp_path):
    extra = {
        "space": "vit-mnist",
        "evaluators": [
            {
                "kind": "callable",
                "target": "experiments.toy_evaluators:synthetic",
                "options": {"sleep": 0.2},
            },
            {"kind": "complexity"},
        ],
        "objectives": ["max score", "min params"],
        "constraints": ["params <= 2e5"],
        "budget": 20,
    }
    cfg = write_config(tmp_path, **extra)
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "nas",
        "search",
        cfg,
        "--run-dir",
        str(run),
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    history = run / "history.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 6:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    before = [json.loads(x) for x in history.read_text().splitlines() if x.endswith("}")]
    assert 6 <= len(before) < 20

    out = run_cli("search", "--resume", str(run), "--no-progress", env=NO_AUTH)
    assert out.returncode == 0, out.stderr
    after = {json.loads(x)["index"]: json.loads(x) for x in history.read_text().splitlines()}
    assert sorted(after) == list(range(20))
    for rec in before:  # finished evaluations kept, not evaluated again
        assert after[rec["index"]] == rec

    ref = search_config.load(cfg)
    full = runner.run_search(ref, tmp_path / "full", workers=2, progress=False)
    run_outputs.write_outputs(tmp_path / "full", full.records, ref.objectives, ref.constraints)
    resumed = json.loads((run / "pareto.json").read_text())
    assert resumed == json.loads((tmp_path / "full" / "pareto.json").read_text()) and resumed


PROBE = """from pathlib import Path

import nas


def where(archs, root, cwd):
    code = float(not Path(nas.__file__).resolve().is_relative_to(root))
    here = float(not Path(__file__).resolve().is_relative_to(cwd))
    return [{"code_shipped": code, "cwd_shipped": here} for _ in archs]
"""

# The driver of `nas search`, with the supernet workdir and the predictors folder moved away
# the moment it has read them (nas.evaluators.payloads), before any Ray worker starts.
MOVING_DRIVER = """import os, sys
from nas import cli, evaluators as E
read = E.payloads
def read_then_move(*args):
    out = read(*args)
    for d in sys.argv[1:3]:
        os.rename(d, d + "-moved")
    return out
E.payloads = read_then_move
sys.exit(cli.main(sys.argv[3:]))
"""


def _user_predictor(root, space):
    """A user-fitted predictor of ``space`` for device 'tinydev' under ``root`` (NAS_PREDICTORS)."""
    from predictors import features as F
    from predictors import registry
    from predictors.models import linear
    from search_spaces import complexity

    archs = space.sample_many(0, 12)
    X, y = F.features(space, archs), 0.1 + complexity(space, archs)["flops"] / 1e6
    fdef = {"version": F.FEATURE_VERSION, "names": F.feature_names(space), "batch_size": 1, "seq_len": None}
    part = registry.SpacePredictor(space, "linear", linear.fit(X, y), {"features": fdef})
    registry.save(root, "tinydev", part)
    return registry.LatencyPredictor("tinydev", [part])


@pytest.mark.slow
def test_a_cluster_search_reads_nothing_of_the_driver(ray_cluster, tiny_supernet, tiny_search_run, tmp_path):
    """Joined with --address, the workers get the code by runtime_env and the supernet and
    predictor by the object store: the workdir and the predictors folder are moved away once
    the driver has read them, and the metrics equal those of the local run."""
    from search_spaces import load_space_file

    space = load_space_file(ROOT / "experiments/spaces/vit-tiny.yaml")
    workdir, reg, cwd = tmp_path / "supernet", tmp_path / "predictors", tmp_path / "cwd"
    shutil.copytree(tiny_supernet, workdir)  # the session's one stays where it is
    predictor = _user_predictor(reg, space)
    cwd.mkdir()
    (cwd / "probe.py").write_text(PROBE)
    local = yaml.safe_load((tiny_search_run / "config.yaml").read_text())
    raw = dict(
        local,
        evaluators=[
            {"kind": "supernet", "workdir": str(workdir)},
            {"kind": "complexity"},
            {"kind": "latency", "device": "tinydev"},
            {"kind": "callable", "target": "probe:where", "options": {"root": str(ROOT), "cwd": str(cwd)}},
        ],
    )
    raw.pop("hv_reference", None)
    raw.pop("workers", None)  # as many workers as the cluster has CPUs; "lag" keeps the proposals
    (cwd / "search.yaml").write_text(yaml.safe_dump(raw))
    env = dict(os.environ, **NO_AUTH, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", NAS_PREDICTORS=str(reg))
    run = tmp_path / "run"
    args = [
        "search",
        "search.yaml",
        "--address",
        ray_cluster["address"],
        "--run-dir",
        str(run),
        "--no-progress",
    ]
    out = subprocess.run(
        [sys.executable, "-c", MOVING_DRIVER, str(workdir), str(reg), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert not workdir.exists() and not reg.exists()
    assert "8 evaluations" in out.stdout and json.loads((run / "pareto.json").read_text())
    recs = sorted(
        (json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()), key=lambda r: r["index"]
    )
    assert len({r["worker"] for r in recs}) == 2  # one per node
    ref = sorted(runner.read_history(tiny_search_run).values(), key=lambda r: r["index"])
    assert [r["arch"] for r in recs] == [r["arch"] for r in ref]  # same proposals (same lag)
    for r, want in zip(recs, ref, strict=True):
        m = r["metrics"]
        assert {k: m[k] for k in want["metrics"]} == want["metrics"]  # supernet and complexity, exactly
        assert m["code_shipped"] == 1.0 and m["cwd_shipped"] == 1.0  # code by runtime_env
    archs = [space.parse(r["arch"]) for r in recs]
    assert [r["metrics"]["latency_ms[tinydev]"] for r in recs] == pytest.approx(
        predictor.predict(archs), rel=1e-12
    )


LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _listening(root: psutil.Process) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket listening, or UDP socket bound,
    in the process tree under ``root``."""
    found = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="inet")
            name = proc.name()
        except psutil.NoSuchProcess:
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and c.laddr):
                found.append((name, c.laddr.ip, c.laddr.port))
    return found


def test_a_local_search_listens_on_loopback_only_keeps_token_auth_and_prints_no_noise(tmp_path):
    """While a local search runs, every socket of its Ray (gcs, raylet, agents, workers, the
    driver) listens on 127.0.0.1 only; token authentication stays on even when the environment
    disables it; stderr is empty (no Ray token warning, no os.fork() warning)."""
    (tmp_path / "authprobe.py").write_text(
        "import os, time\nfrom pathlib import Path\n\n"
        "def probe(archs):\n"
        f"    Path({str(tmp_path / 'running')!r}).touch()\n"
        f"    done = Path({str(tmp_path / 'checked')!r})\n"
        "    deadline = time.monotonic() + 60\n"
        "    while not done.exists() and time.monotonic() < deadline:\n"
        "        time.sleep(0.05)\n"
        "    return [{'score': float(os.environ.get('RAY_AUTH_MODE') == 'token')} for _ in archs]\n"
    )
    cfg = write_config(
        tmp_path,
        evaluators=[{"kind": "callable", "target": "authprobe:probe"}, {"kind": "complexity"}],
        objectives=["max score"],
        constraints=[],
        strategy={"name": "random"},
        budget=3,
    )
    env = dict(_cli_env(), PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    cmd = [sys.executable, "-m", "nas", "search", cfg, "--workers", "1", "--run-dir", str(tmp_path / "run"),
           "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "running").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "running").exists(), proc.communicate()[1]
        sockets = _listening(psutil.Process(proc.pid))
        (tmp_path / "checked").touch()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    names = {name for name, _, _ in sockets}
    assert {"gcs_server", "raylet"} <= names and len(sockets) >= 4, sockets  # the run's Ray is seen
    assert [s for s in sockets if s[1] not in LOOPBACK] == [], sockets
    assert proc.returncode == 0, stderr
    assert stderr.strip() == "", stderr  # no token warning, no os.fork() warning
    recs = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["metrics"]["score"] for r in recs] == [1.0, 1.0, 1.0]  # workers ran with token auth
    assert all(r["worker"] != "driver" for r in recs)  # a callable not marked cheap runs on Ray


def test_set_strategy_name_switches_strategy_dropping_options_it_does_not_take(tmp_path):
    """`--set strategy.name=X` means "use X": the file's nsga2 options that X does not take go,
    shared ones stay, and an option set in the same command is never dropped silently."""
    cfg = write_config(tmp_path, strategy={"name": "nsga2", "population": 12, "crossover_prob": 0.5})
    bayes = search_config.load(cfg, ["strategy.name=bayesian"])
    assert (bayes.strategy, bayes.strategy_options) == ("bayesian", {})
    assert bayes.raw["strategy"] == {"name": "bayesian"}  # what the run's config.yaml records
    evo = search_config.load(cfg, ["strategy.name=evolution"])
    assert (evo.strategy, evo.strategy_options) == ("evolution", {"population": 12, "crossover_prob": 0.5})
    aging = search_config.load(cfg, ["strategy.name=aging", "strategy.sample_size=4"])
    assert aging.strategy_options == {"population": 12, "sample_size": 4}
    with pytest.raises(NasError, match="field 'strategy.population': strategy 'bayesian' has no option"):
        search_config.load(cfg, ["strategy.population=30", "strategy.name=bayesian"])
    with pytest.raises(NasError, match="unknown strategy 'cmaes'"):
        search_config.load(cfg, ["strategy.name=cmaes"])
    same = search_config.load(cfg, ["strategy.name=nsga2"])
    assert same.strategy_options == {"population": 12, "crossover_prob": 0.5}
    out = run_cli("search", cfg, "--set", "strategy.name=bayesian", "--set", "budget=6", "--run-dir",
                  tmp_path / "run", "--no-progress", env=NO_AUTH)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "6 evaluations" in out.stdout
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["strategy"] == {"name": "bayesian"}
