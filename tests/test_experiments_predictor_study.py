"""experiments/predictor_study.py writes its tables and figure from a real run (cheap models)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def test_predictor_study_writes_results(tmp_path):
    cmd = [sys.executable, str(ROOT / "experiments/predictor_study.py"), "--models", "linear,poly2"]
    out = subprocess.run([*cmd, "--results", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads((tmp_path / "predictor_study.json").read_text())
    assert {"cpu-host:vit-mnist", "cpu-host:charlm-shakespeare"} <= set(report["datasets"])
    for name, d in report["datasets"].items():
        assert set(d["models"]) == ({"linear"} if name.startswith("cpu-host") else {"linear", "poly2"})
        for m in d["models"].values():
            assert 0 <= m["within10_pct"] <= 100 and -1 <= m["kendall_tau"] <= 1 and m["query_rows_per_s"] > 0
    md = (tmp_path / "predictor_study.md").read_text()
    assert (
        "| cpu-host:vit-mnist | linear |" in md and (tmp_path / "predictor_study.png").stat().st_size > 1000
    )
    bad = subprocess.run(
        [*cmd[:2], "--models", "nope", "--results", str(tmp_path)], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "nope" in bad.stderr and "Traceback" not in bad.stderr
