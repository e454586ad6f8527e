"""Active learning for a new device: offline on real measurements, and a tiny real campaign."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT

from predictors import models
from predictors.active import active_campaign, active_loop, pick_widest
from predictors.campaign import read_jsonl
from predictors.dataset import records_to_xy
from predictors.fitting import choose
from predictors.metrics import evaluate
from predictors.tabular import split
from search_spaces import ArchConfig, NasError, complexity


def test_pick_widest_is_stratified():
    spread = np.array([0.1, 0.9, 0.5, 0.2, 0.8, 0.3])
    logf = np.array([1.0, 1.1, 1.2, 5.0, 5.1, 5.2])  # two FLOPs bins
    assert pick_widest(spread, logf, 2, bins=2) == [1, 4]  # the widest of each bin, not the two widest
    assert pick_widest(spread, logf, 3, bins=2) == [1, 4, 2]


def test_active_loop_on_measured_archs(vit_space):
    """The shipped cpu-host vit-mnist measurements as the device: the loop stops by itself
    before the pool runs out, with >= 90 % of the 60 never-chosen architectures within +-10 %."""
    recs = [
        r
        for r in read_jsonl(ROOT / "predictors/data/cpu-host/measurements.jsonl")
        if r["space"] == "vit-mnist"
    ]
    X, y, _ = records_to_xy(recs, vit_space)
    tr, te = split(len(y), seed=0, test_fraction=0.25)
    logf = np.log(complexity(vit_space, [ArchConfig.from_dict(recs[i]["arch"]) for i in tr])["flops"])
    asked = []

    def measure(idx):
        asked.extend(idx)
        return y[tr][list(idx)]

    chosen, hist = active_loop(X[tr], logf, measure, start=range(24), step=12, n_max=len(tr))
    assert asked == chosen and len(set(chosen)) == len(chosen) < len(tr)
    assert hist[-1]["cv_mape_pct"] < hist[0]["cv_mape_pct"]
    best, _, _ = choose(X[tr][chosen], y[tr][chosen], ("linear", "trees"))
    m = models.get(best)
    pred = m.predict(m.fit(X[tr][chosen], y[tr][chosen]), X[te])[0]
    assert evaluate(y[te], pred)["within10_pct"] >= 90
    with pytest.raises(NasError, match="start"):
        active_loop(X[tr], logf, measure, start=range(2))


@pytest.mark.slow
def test_active_campaign_measures_and_resumes(tmp_path, vit_space):
    out = tmp_path / "m.jsonl"
    kw = dict(device="new", out=str(out), n_max=8, start=4, step=4, pool=40, rounds=1, repeats=2, warmup=1,
              references=1, group=8, progress=False)  # fmt: skip
    recs, hist = active_campaign(vit_space, **kw)
    lines = out.read_text().splitlines()
    assert len(recs) == len(lines) == hist[-1]["n"] <= 8 and len(hist) >= 1
    again, _ = active_campaign(vit_space, **kw)  # a re-run makes the same choices and measures nothing
    assert out.read_text().splitlines() == lines and len(again) == len(recs)
    assert all(json.loads(x)["ref_ms"] for x in lines)
