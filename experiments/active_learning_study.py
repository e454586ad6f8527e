"""Active learning vs the stratified campaign, offline on the shipped cpu-host measurements.

    JAX_PLATFORMS=cpu python experiments/active_learning_study.py

For each space of ``predictors/data/cpu-host/measurements.jsonl`` (240 measured
architectures, drift-corrected): the 60 held-out architectures of the shipped
predictor's split are never chosen; the other 180 are the pool.  The stratified
campaign measures the pool in its own (stratified) order; active learning
(:mod:`predictors.active`) starts from the first 24 of that order and adds the 12
widest-spread architectures per round, and stops by its own rule (the CV MAPE has not
fallen by 10 % in a round).  Both are scored on the 60 held-out
architectures after the same number of measurements, and the active loop's own
stopping point is reported.  Measurements are looked up, not taken, so the figures
isolate the choice of what to measure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictors import models  # noqa: E402
from predictors.active import active_loop  # noqa: E402
from predictors.campaign import read_jsonl  # noqa: E402
from predictors.dataset import records_to_xy  # noqa: E402
from predictors.fitting import ARCH_CANDIDATES, choose  # noqa: E402
from predictors.metrics import evaluate  # noqa: E402
from predictors.tabular import split  # noqa: E402
from search_spaces import ArchConfig, complexity, load_space  # noqa: E402


def score(X, y, idx, Xte, yte):
    best, _, _ = choose(X[idx], y[idx], ARCH_CANDIDATES)
    m = models.get(best)
    return evaluate(yte, m.predict(m.fit(X[idx], y[idx]), Xte)[0])["within10_pct"]


def main() -> None:
    recs = read_jsonl(ROOT / "predictors/data/cpu-host/measurements.jsonl")
    for name in sorted({r["space"] for r in recs}):
        space = load_space(name)
        rs = [r for r in recs if r["space"] == name]
        X, y, _ = records_to_xy(rs, space)
        tr, te = split(len(y), seed=0, test_fraction=0.25)
        archs = [ArchConfig.from_dict(rs[i]["arch"]) for i in tr]
        logf = np.log(complexity(space, archs)["flops"])
        Xp, yp = X[tr], y[tr]
        chosen, hist = active_loop(
            Xp, logf, lambda idx, yp=yp: yp[list(idx)], start=range(24), step=12, n_max=len(tr)
        )
        stop = hist[-1]["n"]
        print(f"== {name}: pool {len(tr)}, held-out {len(te)}; active loop stops at n={stop} "
              f"(CV MAPE by round: {[round(h['cv_mape_pct'], 2) for h in hist]})")  # fmt: skip
        order = chosen + [i for i in range(len(tr)) if i not in chosen]
        for n in (24, 36, 48, 60, stop, len(tr)):
            a = score(Xp, yp, np.asarray(order[:n]), X[te], y[te])
            s = score(Xp, yp, np.arange(n), X[te], y[te])
            print(f"n={n:4d}  held-out within +-10 %: active {a:5.1f}   stratified {s:5.1f}")


if __name__ == "__main__":
    main()
