"""Reference architectures in every measured group, and the drift correction they allow.

Interleaving (:mod:`predictors.interleaved`) removes the drift of the machine's
speed *within* a group of architectures, but a campaign measures its groups
minutes apart, and on a shared virtual CPU the whole machine can run 10-30 %
faster or slower from one group to the next (on this project's 2-vCPU VM the
residuals of a per-layer model fitted on 200 architectures had group means
from -29 % to +22 %).  That is error no predictor can learn.  So, as a
benchmarking harness re-runs a fixed control benchmark beside the measured
ones (Kalibera and Jones, "Rigorous benchmarking in reasonable time", ISMM
2013) and as physics labs calibrate against a standard, every group also times
the same few *reference* architectures.  Each record keeps its raw
``median_ms`` and the references' medians of its own group (``ref_ms``); at
fit time a group's speed factor is the median over references of (reference
time in this group / that reference's median over all groups), and the
record's latency is its median divided by that factor: latency at the
campaign's typical speed of the machine.

Everything here is a pure function of records (plain dicts), so a file can be
re-corrected, and a record without ``ref_ms`` (an older file, another tool's
data) keeps its raw median.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from search_spaces import ArchConfig, SearchSpace, complexity


def reference_archs(space: SearchSpace, archs: Sequence[ArchConfig], k: int) -> list[ArchConfig]:
    """``k`` of ``archs`` at the FLOPs quantiles 1/(k+1), ..., k/(k+1) (duplicates dropped)."""
    if k <= 0 or not archs:
        return []
    flops = complexity(space, list(archs))["flops"]
    order = np.argsort(flops, kind="stable")
    picks = [order[int(round(q * (len(order) - 1)))] for q in np.arange(1, k + 1) / (k + 1)]
    out: list[ArchConfig] = []
    for i in picks:
        if archs[i] not in out:
            out.append(archs[i])
    return out


def _measure_beside(measure_fn, refs: list[ArchConfig], space, archs, **kw) -> tuple[list, dict[str, float]]:
    """Times ``archs`` and ``refs`` as one group: the records of ``archs`` and the refs' medians."""
    archs = list(archs)
    extra = [r for r in refs if r not in archs]
    recs = measure_fn(space, archs + extra, **kw)
    by_arch = dict(zip(archs + extra, recs, strict=True))
    return [by_arch[a] for a in archs], {r.to_json(): float(by_arch[r]["median_ms"]) for r in refs}


def with_references(measure_fn: Callable[..., list[dict[str, Any]]], refs: Sequence[ArchConfig]):
    """``measure_fn`` that also times ``refs`` in the same group and attaches their medians.

    The returned function has ``measure_fn``'s signature ``(space, archs, **kw)`` and
    returns one record per arch of ``archs``, each with ``ref_ms``: ``{ref arch JSON:
    median ms in this group}``.
    """
    refs = list(refs)

    def measure(space: SearchSpace, archs: Sequence[ArchConfig], **kw: Any) -> list[dict[str, Any]]:
        recs, ref_ms = _measure_beside(measure_fn, refs, space, archs, **kw)
        return [dict(r, ref_ms=dict(ref_ms)) for r in recs]

    return measure


def measure_on_scale(
    measure_fn: Callable[..., list[dict[str, Any]]],
    space: SearchSpace,
    archs: Sequence[ArchConfig],
    levels: dict[str, float],
    **kw: Any,
) -> tuple[list[dict[str, Any]], dict[str, float], float]:
    """Times ``archs`` beside the references of ``levels`` (their usual times, e.g. a fitted
    predictor's ``meta["references"]``).  Returns the records of ``archs``, the references'
    times now and the machine's speed factor now (divide a time by it to put it on the
    scale of ``levels``)."""
    refs = [ArchConfig.from_json(k) for k in sorted(levels)]
    recs, ref_ms = _measure_beside(measure_fn, refs, space, archs, **kw)
    return recs, ref_ms, speed_factor(ref_ms, levels)


def _groups(records: Sequence[dict[str, Any]]) -> tuple[list, dict[tuple, dict[str, float]]]:
    """Per record its group key (None without references), and each group's ``ref_ms``."""
    groups: dict[tuple, dict[str, float]] = {}
    keys = []
    for r in records:
        ref = r.get("ref_ms")
        key = tuple(sorted(ref.items())) if ref else None
        keys.append(key)
        if key is not None:
            groups.setdefault(key, dict(ref))
    return keys, groups


def reference_levels(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Each reference's median over the measured groups of ``records`` (ms)."""
    per_ref: dict[str, list[float]] = {}
    for ref in _groups(records)[1].values():
        for name, ms in ref.items():
            per_ref.setdefault(name, []).append(ms)
    return {name: float(np.median(v)) for name, v in per_ref.items()}


def speed_factor(ref_ms: dict[str, float], levels: dict[str, float]) -> float:
    """How much slower than ``levels`` a group ran: median of reference time ratios."""
    common = [k for k in ref_ms if k in levels]
    if not common:
        return 1.0
    return float(np.exp(np.median([np.log(ref_ms[k] / levels[k]) for k in common])))


def group_factors(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """Per record, its group's speed relative to the campaign's typical speed (1 = typical).

    A group is identified by its ``ref_ms`` values (all members of one measured
    group carry the same ones).  Records without ``ref_ms`` get 1.
    """
    keys, groups = _groups(records)
    levels = reference_levels(records)
    factor = {key: speed_factor(ref, levels) for key, ref in groups.items()}
    return np.array([1.0 if k is None else factor[k] for k in keys])


def corrected_latency(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """``median_ms`` of each record divided by its group's speed factor (ms)."""
    raw = np.asarray([float(r["median_ms"]) for r in records], np.float64)
    return raw / group_factors(records) if len(raw) else raw
