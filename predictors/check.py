"""Is a fitted predictor still right on this machine, now?  Time fresh architectures and see.

``n`` architectures the campaign is unlikely to have measured (stratified by FLOPs
with another seed, the space's smallest and largest left out) are timed in one
interleaved group beside the predictor's reference architectures, with the campaign's
backend, batch size, sequence length and ONNX provider (its fingerprint)
(:func:`predictors.drift.measure_on_scale`), so the machine's speed of the moment
is known.  The predictor is then scored on them twice: against the raw times
(what this machine does now) and against the times put on the campaign's speed
scale (what the predictor claims to predict), with the share of those inside
its calibrated 90 % interval.  A predictor that ranks well (Kendall tau) but is
off raw while right on scale needs nothing but the speed factor; one that is off
on scale has met a changed machine (another driver, library or CPU) and should
be measured again.  The same re-measurement, on held-out architectures of the
campaign, is ``benchmarks/bench_predictor.py --remeasure``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from predictors.campaign import stratified_archs
from predictors.drift import measure_on_scale
from predictors.measure import timing_of
from predictors.metrics import evaluate
from predictors.registry import load_for, reference_times
from search_spaces import NasError, SearchSpace


def fresh_archs(space: SearchSpace, n: int, *, seed: int) -> list:
    """``n`` architectures stratified by FLOPs, without the space's two extremes."""
    ends = {space.smallest(), space.largest()}
    return [a for a in stratified_archs(space, n + 2, seed=seed) if a not in ends][:n]


def _campaign(device: str, space: SearchSpace, timing: dict[str, Any]) -> tuple[Any, dict, dict]:
    """(predictor, its references' usual times, timing options of its campaign + ``timing``)."""
    levels = reference_times(device, space)
    if not levels:
        raise NasError(
            f"field '--device': the {device!r} predictor of {space.name!r} was fitted without "
            "reference timings; measure with 'nas latency measure --references 4' and fit again"
        )
    pred = load_for(device, space)
    return pred, levels, {**timing_of(pred.parts[space.name].meta.get("fingerprint") or {}), **timing}


def speed_now(
    device: str,
    space: SearchSpace,
    *,
    measure_fn: Callable[..., list[dict[str, Any]]] | None = None,
    **timing: Any,
) -> dict[str, Any]:
    """Times ``device``'s references now: how much slower than during its campaign this machine runs."""
    from predictors.interleaved import measure_group

    _, levels, timing = _campaign(device, space, timing)
    _, ref_now, f = measure_on_scale(measure_fn or measure_group, space, [], levels, **timing)
    return {"device": device, "space": space.name, "speed_factor": round(f, 4), "references_ms": ref_now}


def check_now(
    device: str,
    space: SearchSpace,
    *,
    n: int,
    seed: int = 1,
    measure_fn: Callable[..., list[dict[str, Any]]] | None = None,
    **timing: Any,
) -> dict[str, Any]:
    """Times ``n`` fresh architectures beside ``device``'s references and scores its predictor."""
    from predictors.interleaved import measure_group

    if n < 2:
        raise NasError(f"field '--check': need at least 2 architectures, got {n}")
    pred, levels, timing = _campaign(device, space, timing)
    archs = fresh_archs(space, n, seed=seed)
    recs, ref_now, f = measure_on_scale(measure_fn or measure_group, space, archs, levels, **timing)
    raw = np.array([float(r["median_ms"]) for r in recs])
    mean, lo, hi = pred.predict_interval(archs, level=0.9)
    scaled = raw / f
    on_scale = evaluate(scaled, mean)
    on_scale["coverage90_pct"] = float(100 * ((scaled >= lo) & (scaled <= hi)).mean())
    return {
        "device": device,
        "space": space.name,
        "speed_factor": round(f, 4),
        "references_ms": ref_now,
        "raw": evaluate(raw, mean),
        "on_scale": on_scale,
        "archs": [
            {"arch": a.to_dict(), "measured_ms": round(float(m), 5), "predicted_ms": round(float(p), 5)}
            for a, m, p in zip(archs, raw, mean, strict=True)
        ],
    }
