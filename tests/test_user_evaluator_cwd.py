"""A user's evaluator module in the working directory imports without PYTHONPATH, in the
driver and on Ray workers, however ``nas`` was started.

``python -P -m nas`` starts the CLI as the ``nas`` console script does: without the
working directory on ``sys.path`` (the console script puts its own folder there).  The
subprocess's PYTHONPATH holds only the repository, so ``my_eval`` is importable only
because the command puts the working directory on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MY_EVAL = """
def score(archs, **options):
    return [{"score": float(a.embed_dim) / (1 + a.depth)} for a in archs]
"""


def _search(tmp_path: Path, *, cheap: bool) -> subprocess.CompletedProcess:
    (tmp_path / "my_eval.py").write_text(MY_EVAL)
    cfg = {
        "space": str(ROOT / "experiments/tabular_toy_space.yaml"),
        "evaluators": [
            {"kind": "callable", "target": "my_eval:score", "cheap": cheap},
            {"kind": "complexity"},
        ],
        "objectives": [{"metric": "score", "goal": "max"}, {"metric": "params", "goal": "min"}],
        "strategy": {"name": "random"},
        "budget": 4,
        "seed": 0,
    }
    (tmp_path / "s.yaml").write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", RAY_AUTH_MODE="disabled")
    args = ["search", "s.yaml", "--run-dir", "run", "--workers", "1", "--no-progress", "--log-format", "json"]
    return subprocess.run(
        [sys.executable, "-P", "-m", "nas", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check(p: subprocess.CompletedProcess, tmp_path: Path, worker) -> None:
    assert p.returncode == 0, p.stderr[-2000:]
    history = [json.loads(line) for line in (tmp_path / "run/history.jsonl").read_text().splitlines()]
    assert len(history) == 4 and all("score" in r["metrics"] for r in history)
    assert all(worker(r["worker"]) for r in history)


def test_a_cheap_evaluator_in_the_working_directory_runs_in_the_driver(tmp_path):
    _check(_search(tmp_path, cheap=True), tmp_path, lambda w: w == "driver")


@pytest.mark.slow
def test_an_evaluator_in_the_working_directory_runs_on_ray_workers(tmp_path):
    _check(_search(tmp_path, cheap=False), tmp_path, lambda w: w != "driver")
