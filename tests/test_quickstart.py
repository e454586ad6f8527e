"""The README's main command at its smallest setting, end to end, and its resume."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.test_terminal import raw_json_objects

PROGRESS = re.compile(r"^(train|search \w+|measure [\w-]+):\s+\d+%\|")  # tqdm bars, on stderr by design


def stderr_besides_progress(err: str) -> list[str]:
    """What a run printed on stderr other than its progress bars (Ray, JAX, absl, Orbax
    or os.fork() warnings would be here)."""
    return [x for x in re.split(r"[\r\n]+", err) if x.strip() and not PROGRESS.match(x)]


@pytest.mark.slow
def test_quickstart_small_end_to_end_and_resume(cli, tmp_path):
    wd = tmp_path / "qs"
    r = cli("quickstart", "--size", "small", "--workdir", wd, "--workers", "1", timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    assert stderr_besides_progress(r.stderr) == []  # a user sees only what concerns them
    assert PROGRESS.match(r.stderr.lstrip("\r\n"))  # the pattern does match the bars
    # progress bars and readable lines only: the metrics are in the run's files, not on the terminal
    assert raw_json_objects(r.stdout + r.stderr) == []
    assert re.search(r"loss [\d.]+, bin \d+\]", r.stderr)  # the bar's postfix
    assert "trained 60 steps (this run: 60 in" in r.stdout and "largest" in r.stdout
    assert len((wd / "supernet" / "metrics.jsonl").read_text().splitlines()) == 60 // 25 + 2
    summary = json.loads((wd / "summary.json").read_text())
    assert 0.0 <= summary["accuracy"] <= 1.0 and summary["params"] > 0
    assert summary["measured_ms"] > 0 and summary["predicted_ms"] > 0
    assert (wd / "search" / "pareto.png").is_file() and (wd / "export" / "best" / "model.onnx").is_file()
    history = (wd / "search" / "history.jsonl").read_text().splitlines()
    assert len(history) == summary["evaluations"]
    bound = float(summary["constraint"].split("<=")[1])
    assert summary["predicted_ms"] <= bound
    assert ".q90" in summary["constraint"]  # a chance constraint: the calibrated bound meets it
    assert summary["predicted_ms"] < summary["predicted_q90_ms"] <= bound

    import nas

    sub = nas.load_subnet(wd / "export" / "best")
    assert sub(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)

    # Re-running resumes every step: nothing is trained or evaluated again, same answer.
    r2 = cli("quickstart", "--size", "small", "--workdir", wd, "--workers", "1", timeout=1500)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert stderr_besides_progress(r2.stderr) == [] and raw_json_objects(r2.stdout + r2.stderr) == []
    assert "(resuming)" in r2.stdout
    assert (wd / "search" / "history.jsonl").read_text().splitlines() == history
    assert json.loads((wd / "summary.json").read_text())["architecture"] == summary["architecture"]
