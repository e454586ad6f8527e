"""A measurement campaign: architectures chosen across the complexity range, one JSON line each.

Uniform sampling of a layered space piles architectures up around the median
FLOPs and leaves the smallest and largest models (where a predictor is most
often wrong) thin.  Like the stratified sampling of nn-Meter's adaptive data
sampler (Zhang et al., MobiSys 2021), we draw a large uniform pool, split it
into equal-width bins of log FLOPs and take architectures round-robin from the
bins, so every complexity level gets its share.  The choice is a pure function
of (space, n, seed): a killed campaign re-run with the same arguments finds the
architectures already in its output file and measures only the rest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from predictors.drift import reference_archs, with_references
from search_spaces import (
    ArchBatch,
    ArchConfig,
    NasError,
    SearchSpace,
    complexity,
    from_batch,
    load_space,
    sample_batch,
)
from search_spaces.progress import SILENT, Progress


def stratified_archs(
    space: SearchSpace, n: int, *, seed: int = 0, bins: int = 10, pool: int = 20000
) -> list[ArchConfig]:
    """``n`` distinct architectures spread evenly over ``bins`` bins of log FLOPs (deterministic)."""
    if n < 0:
        raise NasError(f"field 'n': must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    batch = sample_batch(space, rng, max(pool, 4 * n))
    logf = np.log(complexity(space, batch)["flops"])
    edges = np.linspace(logf.min(), logf.max(), bins + 1)
    which = np.clip(np.digitize(logf, edges[1:-1]), 0, bins - 1)
    queues = [list(rng.permutation(np.flatnonzero(which == b))) for b in range(bins)]
    order = []  # round robin over the bins
    while any(queues):
        order.extend(q.pop() for q in queues if q)
    # The extremes themselves belong to the range a predictor must cover.
    chosen: list[ArchConfig] = []
    seen: set[ArchConfig] = set()
    for a in (space.smallest(), space.largest()):
        if len(chosen) < n and a not in seen:
            chosen.append(a)
            seen.add(a)
    start, chunk = 0, max(2 * n, 64)
    while len(chosen) < n and start < len(order):
        idx = np.asarray(order[start : start + chunk])
        start += chunk
        sub = ArchBatch(
            depth=batch.depth[idx],
            active=batch.active[idx],
            codes={k: v[idx] for k, v in batch.codes.items()},
            values={k: v[idx] for k, v in batch.values.items()},
        )
        for a in from_batch(space, sub):
            if a not in seen:
                chosen.append(a)
                seen.add(a)
                if len(chosen) >= n:
                    break
    return chosen


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a measurement file; a torn last line (killed mid-write) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise NasError(f"file '{path}': line {i + 1} is not valid JSON") from None
    return out


def _repair_tail(path: Path) -> None:
    """Drops a torn last line so appends start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(cut)


def spread(rec: dict[str, Any]) -> float:
    """Relative spread of a measurement: IQR of its round medians over their median."""
    return float(rec.get("round_iqr_ms", rec.get("iqr_ms", 0.0))) / max(float(rec["median_ms"]), 1e-12)


def measure_stable(
    space: SearchSpace,
    archs: list[ArchConfig],
    measure_fn: Callable[..., list[dict[str, Any]]],
    *,
    seed: int,
    max_spread: float,
    retries: int,
    **measure_kwargs: Any,
) -> list[dict[str, Any]]:
    """Measures ``archs`` as a group, then re-measures (as a group) those whose :func:`spread`
    exceeds ``max_spread``, up to ``retries`` times, keeping each one's steadiest attempt.

    A burst of load from another process shows up as rounds that disagree; nn-Meter
    likewise repeats a measurement until it is stable.  Each record gets ``attempts``.
    """
    best = measure_fn(space, archs, seed=seed, **measure_kwargs)
    for rec in best:
        rec["attempts"] = 1
    for attempt in range(2, retries + 2):
        bad = [j for j, r in enumerate(best) if spread(r) > max_spread]
        if not bad:
            break
        again = measure_fn(space, [archs[j] for j in bad], seed=seed + 7919 * attempt, **measure_kwargs)
        for j, r in zip(bad, again, strict=True):
            if spread(r) < spread(best[j]):
                best[j] = r
            best[j]["attempts"] = attempt
    return best


def file_references(records: list[dict[str, Any]], space_name: str) -> list[ArchConfig]:
    """The reference architectures a file's groups of ``space_name`` were timed with."""
    keys = {k for r in records if r.get("space") == space_name for k in r.get("ref_ms", {})}
    return [ArchConfig.from_json(k) for k in sorted(keys)]


def _record(space: SearchSpace, device: str, arch: ArchConfig, r: dict[str, Any]) -> dict[str, Any]:
    fp = r["fingerprint"]
    c = complexity(space, [arch], batch_size=fp["batch_size"], seq_len=fp.get("seq_len"))
    rec = {"space": space.name, "device": device, "arch": arch.to_dict()}
    rec.update({k: float(v[0]) for k, v in c.items()})
    rec.update(r)
    if "node" not in rec:  # timed in this process (a remote measure_fn names its node)
        import socket

        rec["node"] = {"hostname": socket.gethostname()}
    return rec


def run_campaign(
    space: SearchSpace | str,
    *,
    device: str,
    n: int,
    out: str | Path,
    seed: int = 0,
    group: int = 24,
    max_spread: float = 0.1,
    retries: int = 2,
    references: int = 4,
    measure_fn: Callable[..., list[dict[str, Any]]] | None = None,
    progress: bool = True,
    archs: Sequence[ArchConfig] | None = None,
    reporter: Progress | None = None,
    **measure_kwargs: Any,
) -> list[dict[str, Any]]:
    """Measures the stratified choice of ``n`` architectures (or exactly ``archs``, as
    :mod:`predictors.active` chooses them), appending to ``out`` (JSONL).

    Architectures are measured ``group`` at a time, interleaved
    (:func:`predictors.interleaved.measure_group`; ``measure_kwargs`` go to it),
    each group with the same ``references`` reference architectures
    (:mod:`predictors.drift`; their medians go into every line as ``ref_ms``),
    unsteady ones again (:func:`measure_stable`), and a group's lines are appended
    once it is done, so a kill loses at most one group.  Each line: ``space``,
    ``device``, ``arch`` (dict), complexity figures and the measurement fields.
    Architectures already in ``out`` for this space are skipped.  Returns all
    records of this space.  ``reporter`` (:mod:`search_spaces.progress`; the CLI passes a
    :class:`nas.terminal.Terminal`) gets a bar over the architectures (unless ``progress``
    is false; the last group's median in its postfix) and every new line; without one
    nothing is shown.
    """
    from predictors.interleaved import measure_group

    term = reporter if reporter is not None else SILENT

    space = load_space(space)
    if group < 1 or retries < 0 or max_spread <= 0 or references < 0:
        raise NasError(
            "fields 'group/retries/max_spread/references': need >= 1, >= 0, > 0, >= 0, "
            f"got {group}/{retries}/{max_spread}/{references}"
        )
    chosen = list(archs) if archs is not None else stratified_archs(space, n, seed=seed)
    n = len(chosen)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _repair_tail(out)
    existing = read_jsonl(out)
    # A resumed campaign keeps the references of its file, so all its groups share a scale.
    refs = file_references(existing, space.name) or reference_archs(space, chosen, references)
    measure_fn = with_references(measure_fn or measure_group, refs)
    done = {json.dumps(r["arch"], sort_keys=True) for r in existing if r.get("space") == space.name}
    todo = [a for a in chosen if a.to_json() not in done]
    records = [r for r in existing if r.get("space") == space.name]
    bar = term.bar(desc=f"measure {device}", initial=n - len(todo), total=n, show=progress and bool(todo))
    stable = dict(max_spread=max_spread, retries=retries, **measure_kwargs)
    for start in range(0, len(todo), group):
        chunk = todo[start : start + group]
        results = measure_stable(space, chunk, measure_fn, seed=seed + start, **stable)
        lines = [_record(space, device, a, r) for a, r in zip(chunk, results, strict=True)]
        with open(out, "a") as f:
            f.write("".join(json.dumps(rec, sort_keys=True) + "\n" for rec in lines))
            f.flush()
            os.fsync(f.fileno())
        records.extend(lines)
        bar.update(
            len(chunk),
            space=space.name,
            **{"group median ms": float(np.median([r["median_ms"] for r in lines]))},
        )
        for rec in lines:
            term.record(rec)
    bar.close()
    return records


def remeasure_unsteady(
    out: str | Path,
    *,
    group: int = 24,
    max_spread: float = 0.1,
    retries: int = 2,
    measure_fn: Callable[..., list[dict[str, Any]]] | None = None,
    **measure_kwargs: Any,
) -> int:
    """Re-measures the records of ``out`` whose :func:`spread` exceeds ``max_spread``.

    For a campaign disturbed by other jobs: each unsteady architecture keeps its
    steadiest measurement; the file is rewritten atomically.  Returns how many
    architectures were re-measured.
    """
    from predictors.interleaved import measure_group

    out = Path(out)
    records = read_jsonl(out)
    bad = [i for i, r in enumerate(records) if spread(r) > max_spread]
    by_space: dict[str, list[int]] = {}
    for i in bad:
        by_space.setdefault(records[i]["space"], []).append(i)
    for name, idx in by_space.items():
        space = load_space(name)
        refs_fn = with_references(measure_fn or measure_group, file_references(records, name))
        for start in range(0, len(idx), group):
            part = idx[start : start + group]
            archs = [ArchConfig.from_dict(records[i]["arch"]) for i in part]
            again = measure_stable(
                space,
                archs,
                refs_fn,
                seed=start + 1,
                max_spread=max_spread,
                retries=retries,
                **measure_kwargs,
            )
            for i, a, r in zip(part, archs, again, strict=True):
                if spread(r) < spread(records[i]):
                    tries = records[i].get("attempts", 1) + r["attempts"]
                    records[i] = _record(space, records[i]["device"], a, r) | {"attempts": tries}
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
        os.replace(tmp, out)
    return len(bad)
