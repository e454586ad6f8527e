"""A hypervolume reference point that does not move between runs.

Hypervolume is only comparable between runs measured against the same
reference point.  :func:`fixed_reference` fixes it before a search starts and
the runner writes it into the run's ``config.yaml`` (``hv_reference``), where
reports, plots and a resumed run read it back:

1. ``hv_reference`` from the config, when given;
2. else, when a table gives every objective: each objective's worst value
   over the table's rows (constraints on table metrics applied), moved out by
   1e-4 of its size (:func:`nas.objectives.table_reference`);
3. else, when every objective is free (complexity, predicted latency): the
   same over the space's smallest and largest architectures and the pool;
4. else None: no bound is known before evaluating, and the run outputs fall
   back to the per-run reference (worst value found + 10 % of the range),
   which they say in ``summary['reference_source']``.
"""

from __future__ import annotations

import numpy as np

from nas import evaluators as E
from nas.free import build_free
from nas.objectives import objective_vector, table_reference, total_violation
from nas.search_config import SearchConfig
from nas.table import mapping, read_table


def fixed_reference(cfg: SearchConfig, pool=None) -> list[float] | None:
    """The reference point in metric units (one number per objective), or None."""
    if cfg.hv_reference is not None:
        return list(cfg.hv_reference)
    names = {o.metric for o in cfg.objectives}
    for spec in cfg.evaluators:
        if spec["kind"] == "table" and names <= set(E.static_provides(spec) or ()):
            rows = list(read_table(spec["path"], **mapping(spec)).values())
            given = set(rows[0])
            cons = [c for c in cfg.constraints if c.metric in given]
            ok = [m for m in rows if total_violation(m, cons) <= 0] or rows
            F = np.array([objective_vector(m, cfg.objectives) for m in ok])
            return _metric_units(cfg, table_reference(F))
    free = build_free(cfg.evaluators, cfg.objectives, cfg.space)
    if free is not None and all(free.columns):
        archs = [cfg.space.smallest(), cfg.space.largest()] + list(pool or [])
        return _metric_units(cfg, table_reference(free.fn(archs)))
    return None


def _metric_units(cfg: SearchConfig, ref: np.ndarray) -> list[float]:
    return [float(o.sign * r) for o, r in zip(cfg.objectives, ref, strict=True)]
