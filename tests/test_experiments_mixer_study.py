"""experiments/mixer_study.py on a tiny grid: real timings beside the complexity model, a rerun that
measures nothing again (resumable), and the predictor's per-mixer error on real features."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
from conftest import ROOT

from search_spaces import complexity


def _study():
    spec = importlib.util.spec_from_file_location("mixer_study", ROOT / "experiments/mixer_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mixer_study_measures_reports_and_resumes(tmp_path):
    study = _study()
    out = tmp_path / "study"
    argv = ["--lengths", "32", "--widths", "64", "--repeats", "2", "--per-mixer", "0", "--mixers", "sdp,dct",
            "--out", str(out)]  # fmt: skip
    study.main(argv)
    data = json.loads(out.with_suffix(".json").read_text())
    assert [(r["mixer"], r["E"], r["T"]) for r in data["layer"]] == [("sdp", 64, 32), ("dct", 64, 32)]
    for r in data["layer"]:
        assert r["params_built"] == r["params_formula"] and r["flops"] == 2 * r["macs"] > 0
        assert r["median_ms"] > 0 and r["cpu_median_ms"] > 0 and r["iqr_ms"] >= 0
    md = out.with_suffix(".md").read_text()
    assert "| sdp |" in md and "| dct |" in md and "MFLOPs" in md
    study.main(argv)  # resumed: every measurement is found, none is taken again
    assert json.loads(out.with_suffix(".json").read_text())["layer"] == data["layer"]


def test_predictor_error_is_grouped_by_mixer():
    """On a label the features determine up to the model's fit (the complexity model's FLOPs)."""
    study = _study()
    space = study.study_space(64, ["sdp", "dct", "dsc5"])
    rows = []
    for m in ("sdp", "dct", "dsc5"):
        for a in study.one_mixer_archs(space, m, 4, seed=0):
            assert set(a["mixer"][: a.depth]) == {m}
            flops = float(complexity(space, [a])["flops"][0])
            rows.append({"mixer": m, "arch_json": a.to_json(), "cpu_median_ms": flops, "cpu_iqr_ms": 0.0})
    p = study.predictor_errors(space, rows, 64, label="cpu_median_ms")
    assert list(p["per_mixer"]) == ["sdp", "dct", "dsc5"] and p["overall"]["n"] == 12
    assert all(r["n"] == 4 and np.isfinite(r["mape_pct"]) for r in p["per_mixer"].values())
