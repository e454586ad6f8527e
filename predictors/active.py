"""Active learning for a new device: measure where the predictor is least sure, stop early.

A campaign that measures a fixed stratified set spends most of its time on
architectures the predictor could already place.  Query by committee (Seung,
Opper & Sompolinsky, COLT 1992; for latency predictors, the adaptive sampler of
nn-Meter, Zhang et al., MobiSys 2021, refines where the error is large):

1. measure a small stratified start set (with the campaign's reference
   architectures, :mod:`predictors.drift`);
2. fit the cross-validated model; its K fold models are the committee, and the
   spread of their log predictions on a candidate is the width of its interval;
3. from a large stratified pool, take the candidates with the widest spread,
   round-robin over bins of log FLOPs (so the small and large ends keep their
   share), measure them, and repeat;
4. stop when the cross-validated error (out-of-fold MAPE, the held-out error of
   every row) has not fallen by ``tol`` for ``patience`` rounds while at least
   ``target`` % of rows are within +-10 % out of fold, or at ``n_max`` (a plateau
   below the target is the device's noise or a too-small sample, and more rows are
   the only remedy a campaign has).

The loop is a pure function of the measurements it is handed (``measure``), so
the same code runs a real campaign and an offline study on measured tables.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from predictors import features as feats
from predictors import models
from predictors.fitting import ARCH_CANDIDATES, choose, folds
from search_spaces import ArchConfig, NasError, SearchSpace, complexity


def committee_spread(
    name: str, X: np.ndarray, y: np.ndarray, X_pool: np.ndarray, *, k: int = 5, seed: int = 0
) -> np.ndarray:
    """Std of the K fold models' log predictions on each pool row (their disagreement)."""
    m = models.get(name)
    logs = []
    for va in folds(len(y), k=k, seed=seed):
        tr = np.setdiff1d(np.arange(len(y)), va)
        logs.append(np.log(np.maximum(m.predict(m.fit(X[tr], y[tr], seed=seed), X_pool)[0], 1e-12)))
    return np.std(np.stack(logs), axis=0)


def pick_widest(spread: np.ndarray, log_flops: np.ndarray, n: int, *, bins: int = 6) -> list[int]:
    """``n`` indices: the widest spread first within each bin of log FLOPs, round-robin over bins."""
    edges = np.linspace(log_flops.min(), log_flops.max() + 1e-9, bins + 1)
    which = np.clip(np.digitize(log_flops, edges[1:-1]), 0, bins - 1)
    queues = [list(np.flatnonzero(which == b)[np.argsort(-spread[which == b])]) for b in range(bins)]
    out: list[int] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(int(q.pop(0)))
    return out


def active_loop(
    pool_X: np.ndarray,
    pool_log_flops: np.ndarray,
    measure: Callable[[Sequence[int]], np.ndarray],
    *,
    start: Sequence[int],
    step: int = 12,
    n_max: int = 120,
    patience: int = 1,
    tol: float = 0.1,
    candidates: Sequence[str] = ARCH_CANDIDATES,
    seed: int = 0,
    target: float = 90.0,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[int], list[dict[str, Any]]]:
    """Indices of the pool measured (in order) and the history of each round.

    ``measure(indices) -> latencies (ms)`` of those pool rows.  Each history entry:
    ``n``, ``model``, ``cv_mape_pct``, ``cv_within10_pct``.  Stops when the CV MAPE has
    not fallen by a relative ``tol`` in ``patience`` rounds with ``target`` % within +-10 %
    out of fold, or at ``n_max`` rows.
    """
    if step < 1 or n_max < len(start) or len(start) < 4:
        raise NasError(f"fields 'start/step/n_max': need >= 4 start rows, step >= 1, n_max >= start, got "
                       f"{len(start)}/{step}/{n_max}")  # fmt: skip
    chosen = list(dict.fromkeys(int(i) for i in start))
    y = list(np.asarray(measure(chosen), np.float64))
    history: list[dict[str, Any]] = []
    best_err, stale = np.inf, 0
    while True:
        X, Y = pool_X[chosen], np.asarray(y)
        best, cv, _ = choose(X, Y, candidates, seed=seed)
        h = {"n": len(chosen), "model": best, "cv_mape_pct": cv[best]["mape_pct"],
             "cv_within10_pct": cv[best]["within10_pct"]}  # fmt: skip
        history.append(h)
        if report:
            report(h)
        if h["cv_mape_pct"] < best_err * (1 - tol):
            best_err, stale = h["cv_mape_pct"], 0
        else:
            stale += 1
        if (stale >= patience and h["cv_within10_pct"] >= target) or len(chosen) >= n_max:
            return chosen, history
        rest = np.setdiff1d(np.arange(len(pool_X)), chosen)
        if not len(rest):
            return chosen, history
        spread = committee_spread(best, X, Y, pool_X[rest], seed=seed)
        take = [
            int(rest[j]) for j in pick_widest(spread, pool_log_flops[rest], min(step, n_max - len(chosen)))
        ]
        y.extend(np.asarray(measure(take), np.float64))
        chosen.extend(take)


def pool_features(
    space: SearchSpace, archs: Sequence[ArchConfig], *, batch_size: int = 1, seq_len: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(feature matrix, log FLOPs) of candidate architectures."""
    X = feats.features(space, list(archs), batch_size=batch_size, seq_len=seq_len)
    return X, np.log(complexity(space, list(archs), batch_size=batch_size)["flops"])


def active_campaign(
    space: SearchSpace,
    *,
    device: str,
    out: str,
    n_max: int = 60,
    start: int = 24,
    step: int = 12,
    pool: int = 600,
    seed: int = 0,
    report: Callable[[dict[str, Any]], None] | None = None,
    **campaign_kwargs: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A real campaign chosen by :func:`active_loop`: (all records of ``space`` in ``out``, history).

    The pool is the stratified choice of ``pool`` architectures
    (:func:`predictors.campaign.stratified_archs`), the start set its first ``start``;
    every round is measured by :func:`predictors.campaign.run_campaign` (references,
    interleaving, retries; resumable: a re-run finds its measurements in ``out`` and
    makes the same choices)."""
    from predictors.campaign import run_campaign, stratified_archs
    from predictors.drift import corrected_latency

    cands = stratified_archs(space, pool, seed=seed)
    bs = int(campaign_kwargs.get("batch_size", 1))
    X, logf = pool_features(space, cands, batch_size=bs, seq_len=campaign_kwargs.get("seq_len"))
    order: list[ArchConfig] = []
    recs: list[dict[str, Any]] = []

    def measure(idx: Sequence[int]) -> np.ndarray:
        nonlocal recs
        order.extend(cands[i] for i in idx)
        recs = run_campaign(
            space, device=device, n=len(order), out=out, archs=order, seed=seed, **campaign_kwargs
        )
        y = dict(zip((ArchConfig.from_dict(r["arch"]) for r in recs), corrected_latency(recs), strict=True))
        return np.array([y[cands[i]] for i in idx])

    _, history = active_loop(
        X,
        logf,
        measure,
        start=range(min(start, len(cands))),
        step=step,
        n_max=n_max,
        seed=seed,
        report=report,
    )
    return recs, history
