"""Choose a predictor model by cross-validation, refit it on all rows, calibrate its intervals.

Shared by our own measurements (features of architectures) and other tools'
CSVs: same split (:func:`predictors.tabular.split`), same metrics.

1. The rows are split once into train and held-out test rows (the README split
   of the HAT files).  The held-out rows are never used to choose or fit: their
   scores are the honest figures printed and stored.
2. Every candidate is scored by K-fold cross-validation on the train rows
   (pooled out-of-fold predictions: % within +-10 %, ties by MAPE).  When the
   runners-up are within noise of the leader (within two binomial standard
   errors of its share, at least one row; not when the leader is at 100 %,
   where the share cannot separate them and MAPE does), those candidates are scored again on
   ``REPEATS - 1`` more K-fold splits (new fold permutations and model seeds)
   and the best mean over the repeats wins; each candidate's CV entry keeps
   its per-repeat scores and their spread (``within10_repeats``,
   ``within10_sd``), the spread of the choice.  One 5-fold split decided the
   HAT files by fractions of a row before.  The best one is fitted on the
   train rows and scored on the test rows, as is every other candidate (for
   the printed table only).
3. The out-of-fold log ratios of the chosen model calibrate its intervals
   (:mod:`predictors.intervals`, CV+ with ``CAL_FOLDS`` folds); the share of test
   rows inside the 90 % interval is measured and stored.
4. The chosen model is refitted on all rows and recalibrated with out-of-fold
   scores over all rows: that is what is saved.

Calibration uses 20 folds where the choice uses 5 (:func:`cal_folds`): a fold
model sees 95 % of the rows instead of 80 %, so its errors are closer to those of
the model fitted on all rows, as CV+ assumes (Barber et al. 2021 bound CV+ only
below, at 1 - 2 alpha; with a few hundred rows and a steep learning curve 5-fold
scores make the interval too wide).  On this project's 240-row campaigns (trees),
the 90 % interval's nested-CV coverage, mean of four fold seeds, is 93.4 / 93.1 %
with 5 calibration folds, 92.1 / 92.8 % with 10 and 91.7 / 92.2 % with 20; on the
2,000-row HAT files 89.9-90.9 % with any of them.  The costly MLP models keep 5.

A CSV's default candidates add ``blend`` (:mod:`predictors.models.blend`, the
geometric mean of poly2 and trees) when the train rows number at least
``BLEND_ROWS``.  HAT's own MLP recipe (``hat_mlp``,
:mod:`predictors.models.hat_mlp`) is the baseline ``benchmarks/bench_predictor.py``
scores the choice against, not a default candidate: one fit of its 5,000
steps of a 4x400 MLP took 144-163 s on this project's 2-core VM under load,
so a 5-fold choice with it would take ~15 minutes per ``nas latency fit``;
it is a candidate on request (``--model linear,poly2,trees,hat_mlp``).

The deep ensemble stays available (``candidates=(..., "ensemble")``) but is not a
default candidate: it took ~70 of the 75 s of a CSV fit and was never chosen.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from predictors import intervals, models
from predictors.metrics import evaluate
from predictors.tabular import split
from search_spaces import NasError

DEFAULT_CANDIDATES = ("linear", "poly2", "trees", "blend")
# On architecture features (dozens of columns with the layer table) a degree-2
# expansion has thousands of columns: slow to query and fitted on a few hundred rows.
ARCH_CANDIDATES = ("linear", "trees")
LEVEL = 0.9
CAL_FOLDS = 20
COSTLY = ("mlp", "ensemble", "hat_mlp")
REPEATS = 3  # K-fold splits in all when candidates are within noise of the best
BLEND_ROWS = 200  # train rows below which "blend" (it holds poly2's 66 columns) is left out


def cal_folds(name: str) -> int:
    """Folds of the out-of-fold scores that calibrate model ``name``'s intervals."""
    return 5 if name in COSTLY else CAL_FOLDS


def folds(n: int, *, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint validation index sets covering ``range(n)`` (a seeded permutation)."""
    k = max(2, min(k, n))
    perm = np.random.default_rng(seed + 7919).permutation(n)
    return [np.sort(f) for f in np.array_split(perm, k)]


def out_of_fold(name: str, X: np.ndarray, y: np.ndarray, *, k: int = 5, seed: int = 0) -> np.ndarray:
    """Each row's prediction by model ``name`` fitted on the other folds."""
    m = models.get(name)
    oof = np.empty(len(y))
    for va in folds(len(y), k=k, seed=seed):
        tr = np.setdiff1d(np.arange(len(y)), va)
        oof[va] = m.predict(m.fit(X[tr], y[tr], seed=seed), X[va])[0]
    return oof


def cv_coverage(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    *,
    level: float = LEVEL,
    k: int = 5,
    cal_k: int | None = None,
    seed: int = 0,
) -> float:
    """Share (%) of all rows inside their ``level`` interval, each row unseen by its model
    and by its calibration (nested K-fold: the outer fold is predicted by a model fitted
    on the other folds and calibrated by their own out-of-fold scores).  Over every row,
    so its noise is that of ``n`` rows, not of one small test split."""
    m = models.get(name)
    cal_k = cal_k or cal_folds(name)
    inside = np.zeros(len(y), bool)
    for va in folds(len(y), k=k, seed=seed + 1):
        tr = np.setdiff1d(np.arange(len(y)), va)
        res = intervals.scores(y[tr], out_of_fold(name, X[tr], y[tr], k=cal_k, seed=seed))
        lo, hi = intervals.interval(m.predict(m.fit(X[tr], y[tr], seed=seed), X[va])[0], res, level)
        inside[va] = (y[va] >= lo) & (y[va] <= hi)
    return float(100 * inside.mean())


def enough_rows(candidates: Sequence[str], n: int) -> tuple[str, ...]:
    """The candidates worth fitting on ``n`` rows (``blend`` needs ``BLEND_ROWS``)."""
    keep = tuple(c for c in candidates if c != "blend" or n >= BLEND_ROWS)
    return keep or tuple(candidates)


def choose(
    X: np.ndarray,
    y: np.ndarray,
    candidates: Sequence[str],
    *,
    k: int = 5,
    seed: int = 0,
    repeats: int = REPEATS,
) -> tuple[str, dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """(best name, CV scores per candidate, out-of-fold predictions per candidate
    of the first K-fold split); repeated K-fold among the candidates within noise."""
    if not candidates:
        raise NasError("field 'model': no candidate models")
    oof = {c: out_of_fold(c, X, y, k=k, seed=seed) for c in candidates}
    cv = {c: evaluate(y, p) for c, p in oof.items()}

    def rank(c: str) -> tuple[float, float]:
        return round(cv[c].get("within10_mean", cv[c]["within10_pct"]), 6), -cv[c]["mape_pct"]

    best = max(candidates, key=rank)
    share = cv[best]["within10_pct"] / 100
    noise = max(2 * 100 * np.sqrt(share * (1 - share) / len(y)), 100 / len(y))
    close = [c for c in candidates if cv[best]["within10_pct"] - cv[c]["within10_pct"] <= noise + 1e-9]
    again = [c for c in close if c not in COSTLY]
    if len(close) > 1 and len(again) > 0 and repeats > 1 and share < 1:
        for c in close:
            runs = [cv[c]["within10_pct"]]
            if c in again:
                runs += [evaluate(y, out_of_fold(c, X, y, k=k, seed=seed + 1000 * r))["within10_pct"]
                         for r in range(1, repeats)]  # fmt: skip
            cv[c].update(within10_repeats=runs, within10_mean=float(np.mean(runs)),
                         within10_sd=float(np.std(runs, ddof=1)) if len(runs) > 1 else 0.0)  # fmt: skip
        best = max(close, key=rank)
    return best, cv, oof


def fit_and_score(
    X: np.ndarray,
    y: np.ndarray,
    *,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    seed: int = 0,
    test_fraction: float = 0.1,
    k: int = 5,
    cal_k: int | None = None,
    refit: bool = True,
    calibrate: bool = True,
) -> dict[str, Any]:
    """Chooses, scores, calibrates and refits (see the module docstring).

    ``calibrate=False`` skips the intervals (their residuals and coverages are None): a
    target with no noise to state, such as XLA's peak memory, needs none.

    Returns ``{"scores": {name: held-out metrics}, "cv": {name: CV metrics},
    "best": name, "params": params to save, "residuals": calibration scores to
    save, "coverage90_pct": held-out coverage of the 90 % interval,
    "coverage90_cv_pct": its coverage over all rows by nested CV,
    "train_idx", "test_idx", "pred": best's held-out predictions}``.
    """
    X, y = models.check_xy(X, y)
    tr, te = split(len(y), seed=seed, test_fraction=test_fraction)
    if len(tr) < 3:
        raise NasError(f"field 'rows': need more rows to fit, got {len(y)}")
    candidates = enough_rows(candidates, len(tr))
    best, cv, oof = choose(X[tr], y[tr], candidates, k=k, seed=seed)
    scores, preds, fitted = {}, {}, {}
    for name in candidates:
        m = models.get(name)
        fitted[name] = m.fit(X[tr], y[tr], seed=seed)
        preds[name] = m.predict(fitted[name], X[te])[0]
        scores[name] = evaluate(y[te], preds[name])
    if not calibrate:
        params = models.get(best).fit(X, y, seed=seed) if refit else fitted[best]
        return {"scores": scores, "cv": cv, "best": best, "params": params, "residuals": None,
                "coverage90_pct": None, "coverage90_cv_pct": None, "train_idx": tr, "test_idx": te,
                "pred": preds[best], "refit": refit}  # fmt: skip
    cal_k = cal_k or cal_folds(best)
    oof_cal = oof[best] if cal_k == k else out_of_fold(best, X[tr], y[tr], k=cal_k, seed=seed)
    res_tr = intervals.scores(y[tr], oof_cal)
    cover = intervals.coverage(y[te], preds[best], res_tr, LEVEL)
    scores[best] = {**scores[best], "coverage90_pct": cover}
    cover_cv = cv_coverage(best, X, y, k=k, cal_k=cal_k, seed=seed)
    if refit:
        params = models.get(best).fit(X, y, seed=seed)
        res = intervals.scores(y, out_of_fold(best, X, y, k=cal_k, seed=seed))
    else:
        params, res = fitted[best], res_tr
    return {
        "scores": scores,
        "cv": cv,
        "best": best,
        "params": params,
        "residuals": res,
        "coverage90_pct": cover,
        "coverage90_cv_pct": cover_cv,
        "train_idx": tr,
        "test_idx": te,
        "pred": preds[best],
        "refit": refit,
    }
