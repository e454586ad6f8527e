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
from typing import Any, Callable, Iterable

import numpy as np

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


def run_campaign(
    space: SearchSpace | str,
    *,
    device: str,
    n: int,
    out: str | Path,
    seed: int = 0,
    measure_fn: Callable[..., dict[str, Any]] | None = None,
    progress: bool = True,
    **measure_kwargs: Any,
) -> list[dict[str, Any]]:
    """Measures the stratified choice of ``n`` architectures, appending to ``out`` (JSONL).

    Each line: ``space``, ``device``, ``arch`` (dict), complexity figures and the
    fields of :func:`predictors.measure.measure`.  Architectures already in
    ``out`` for this space are skipped.  Returns all records of this space.
    """
    from predictors.measure import measure

    space = load_space(space)
    measure_fn = measure_fn or measure
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _repair_tail(out)
    existing = read_jsonl(out)
    done = {json.dumps(r["arch"], sort_keys=True) for r in existing if r.get("space") == space.name}
    todo = [a for a in stratified_archs(space, n, seed=seed) if a.to_json() not in done]
    records = [r for r in existing if r.get("space") == space.name]
    it: Iterable[ArchConfig] = todo
    if progress and todo:
        from tqdm import tqdm

        it = tqdm(todo, desc=f"{space.name} on {device}", initial=n - len(todo), total=n)
    for arch in it:
        r = measure_fn(space, arch, **measure_kwargs)
        c = complexity(space, [arch], batch_size=r["fingerprint"]["batch_size"])
        rec = {"space": space.name, "device": device, "arch": arch.to_dict()}
        rec.update({k: float(v[0]) for k, v in c.items()})
        rec.update(r)
        with open(out, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        records.append(rec)
    return records
