"""Free objectives: metrics known before an architecture is evaluated.

Complexity (params, FLOPs, memory) comes from closed forms, predicted latency
from a latency predictor, and a table may declare columns computed from the
architecture alone (``free: [params]`` on a ``table`` evaluator, e.g.
HW-GPT-Bench's parameter count).  A strategy that learns such a metric wastes
half its evaluations on what a formula knows; :func:`build_free` hands the
strategies a vectorized function that computes the free objectives of any list
of candidates, so that they model only the expensive metrics (accuracy,
perplexity, loss).  Constraints on free metrics are enforced before proposing
by the runner's pre-filter.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from nas import evaluators as E
from nas.objectives import Objective
from nas.strategies import Free
from search_spaces import SearchSpace
from search_spaces.errors import NasError


def free_metrics(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Metrics of one evaluator declaration that are known before evaluation."""
    if spec["kind"] == "table":
        names = tuple(spec.get("free") or ())
        have = E.static_provides(spec) or ()
        for m in names:
            if m not in have:
                raise NasError(f"field 'evaluators.free': the table has no column {m!r}; it has {list(have)}")
        return names
    if E.is_cheap(spec):
        return tuple(E.static_provides(spec) or ())
    return ()


def build_free(
    evaluators: Sequence[Mapping[str, Any]], objectives: Sequence[Objective], space: SearchSpace
) -> Free | None:
    """A :class:`~nas.strategies.Free` for the objectives that some evaluator
    gives before evaluation, or None when every objective must be measured."""
    sources: dict[str, Mapping[str, Any]] = {}
    for spec in evaluators:
        for m in free_metrics(spec):
            sources.setdefault(m, spec)
    columns = tuple(o.metric in sources for o in objectives)
    if not any(columns):
        return None
    specs = list(
        {
            id(sources[o.metric]): sources[o.metric] for o, c in zip(objectives, columns, strict=True) if c
        }.values()
    )
    built = [(E.build(s, space), set(free_metrics(s))) for s in specs]

    def fn(archs):
        out = np.full((len(archs), len(objectives)), np.nan)
        if not archs:
            return out
        merged: list[dict[str, float]] = [{} for _ in archs]
        for ev, names in built:
            for row, m in zip(merged, ev.fn(list(archs)), strict=True):
                row.update({k: v for k, v in m.items() if k in names})
        for j, o in enumerate(objectives):
            if columns[j]:
                out[:, j] = [o.sign * float(r[o.metric]) for r in merged]
        return out

    return Free(fn, columns)
