"""What a finished search leaves in its run directory, and the final table.

* ``pareto.json``: the feasible Pareto front (arch, metrics, index), best first
  (:func:`best_first`).
* ``best.json``: the best config (:func:`best_record`) under all constraints
  together and under each constraint alone.
* ``pareto.png``: every evaluation and the front in the plane of the first two
  objectives (or the first objective against the evaluation index).
* ``progress.png``: best-so-far of the first objective and hypervolume of the
  feasible front against the number of evaluations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from nas.objectives import Constraint, Objective, hypervolume, objective_vector, pareto_mask, total_violation


def _F(records: Sequence[dict], objectives: Sequence[Objective]) -> np.ndarray:
    return np.array([objective_vector(r["metrics"], objectives) for r in records]).reshape(len(records), -1)


def feasible(records: Sequence[dict], constraints: Sequence[Constraint]) -> np.ndarray:
    return np.array([total_violation(r["metrics"], constraints) <= 0 for r in records], dtype=bool)


def best_first(F: np.ndarray) -> np.ndarray:
    """Row order, best first: by the first objective (minimization units), ties broken by
    the next objectives in order, then by position (older first). The first row of a
    feasible set in this order is always on its Pareto front: nothing can beat it on the
    first objective, and among its ties nothing beats it on the rest."""
    F = np.asarray(F, dtype=np.float64).reshape(len(F), -1)
    return np.lexsort((np.arange(len(F)), *F.T[::-1]))


def best_record(
    records: Sequence[dict], objectives: Sequence[Objective], constraints: Sequence[Constraint]
) -> dict | None:
    """The one record the search calls *best*: the feasible record first in
    :func:`best_first` order, or None when none is feasible. The search summary,
    ``best.json``, the quickstart and ``nas export --select best`` all use it."""
    ok = np.flatnonzero(feasible(records, constraints)) if len(records) else np.zeros(0, int)
    if len(ok) == 0:
        return None
    return records[int(ok[best_first(_F([records[i] for i in ok], objectives))[0]])]


def pareto_front(
    records: Sequence[dict], objectives: Sequence[Objective], constraints: Sequence[Constraint]
) -> list[dict]:
    """Feasible non-dominated records in :func:`best_first` order (the first is :func:`best_record`)."""
    ok = np.flatnonzero(feasible(records, constraints))
    if len(ok) == 0:
        return []
    F = _F([records[i] for i in ok], objectives)
    front = ok[pareto_mask(F)]
    return [records[int(front[j])] for j in best_first(_F([records[i] for i in front], objectives))]


def reference_point(
    records: Sequence[dict], objectives: Sequence[Objective], given: Sequence[float] | None
) -> np.ndarray:
    """In minimization units: ``given`` (the run's fixed reference, see
    :mod:`nas.reference`), else the worst value of each objective plus 10 % of its range."""
    if given is not None:
        return np.array([o.sign * float(x) for o, x in zip(objectives, given, strict=False)])
    F = _F(records, objectives)
    F = F[np.all(np.isfinite(F), axis=1)]
    if len(F) == 0:
        return np.zeros(len(objectives))
    lo, hi = F.min(0), F.max(0)
    return hi + 0.1 * np.where(hi > lo, hi - lo, 1.0)


def curves(records, objectives, constraints, ref) -> tuple[np.ndarray, np.ndarray]:
    """Best-so-far of the first objective (metric units) and hypervolume after each evaluation."""
    F = _F(records, objectives)
    ok = feasible(records, constraints)
    best, hv = np.full(len(records), np.nan), np.zeros(len(records))
    cur, front = np.inf, np.zeros((0, F.shape[1]))
    for i in range(len(records)):
        if ok[i] and np.all(np.isfinite(F[i])):
            cur = min(cur, F[i, 0])
            front = np.vstack([front, F[i]])
            front = front[pareto_mask(front)]
        best[i] = objectives[0].sign * cur if np.isfinite(cur) else np.nan
        hv[i] = hypervolume(front, ref)
    return best, hv


def best_under_each(records, objectives, constraints) -> dict:
    """:func:`best_record` under all constraints together and under each alone."""
    out = {}
    groups = [("all constraints", list(constraints))] + [(str(c), [c]) for c in constraints]
    for label, cons in groups:
        r = best_record(records, objectives, cons)
        out[label] = None if r is None else {"index": r["index"], "arch": r["arch"], "metrics": r["metrics"]}
    return out


def val_examples(cfg) -> int | None:
    """The validation examples behind a search's inherited accuracy (its supernet run's
    :func:`supernet.data.evaluated_size`), None without a supernet evaluator or a ``data.json``."""
    from supernet.data import evaluated_size

    for spec in cfg.evaluators:
        if spec.get("kind") == "supernet":
            return evaluated_size(spec["workdir"])
    return None


def write_outputs(run_dir: str | Path, records, objectives, constraints, *, hv_reference=None) -> dict:
    """Writes pareto.json, best.json and the plots; returns a summary dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    front = pareto_front(records, objectives, constraints)
    slim = [{"index": r["index"], "arch": r["arch"], "metrics": r["metrics"]} for r in front]
    (run_dir / "pareto.json").write_text(json.dumps(slim, indent=1, sort_keys=True))
    best = best_under_each(records, objectives, constraints)
    (run_dir / "best.json").write_text(json.dumps(best, indent=1, sort_keys=True))
    ref = reference_point(records, objectives, hv_reference)
    best_curve, hv = curves(records, objectives, constraints, ref)

    ok = feasible(records, constraints)
    fig, ax = plt.subplots(figsize=(5, 4))
    m0 = objectives[0].metric
    y0 = np.array([r["metrics"].get(m0, np.nan) for r in records])
    if len(objectives) >= 2:
        m1 = objectives[1].metric
        x = np.array([r["metrics"].get(m1, np.nan) for r in records])
        ax.scatter(x[~ok], y0[~ok], s=8, c="lightgray", label="infeasible")
        ax.scatter(x[ok], y0[ok], s=8, c="tab:blue", alpha=0.5, label="feasible")
        ax.plot(
            [r["metrics"][m1] for r in front],
            [r["metrics"][m0] for r in front],
            "o-",
            c="tab:red",
            label="Pareto front",
        )
        ax.set_xlabel(m1)
    else:
        ax.scatter(np.arange(len(records))[ok], y0[ok], s=8, c="tab:blue", label="feasible")
        ax.set_xlabel("evaluation")
    ax.set_ylabel(m0)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run_dir / "pareto.png", dpi=110)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.plot(np.arange(1, len(records) + 1), best_curve)
    a1.set_xlabel("evaluations")
    a1.set_ylabel(f"best {m0} (feasible)")
    a2.plot(np.arange(1, len(records) + 1), hv)
    a2.set_xlabel("evaluations")
    a2.set_ylabel("hypervolume")
    fig.tight_layout()
    fig.savefig(run_dir / "progress.png", dpi=110)
    plt.close(fig)
    return {
        "front": slim,
        "best": best,
        "hypervolume": float(hv[-1]) if len(hv) else 0.0,
        "reference": ref.tolist(),
        "reference_source": "fixed" if hv_reference is not None else "run",
    }


def print_table(
    front: Sequence[dict],
    objectives: Sequence[Objective],
    *,
    limit: int = 15,
    val_examples: int | None = None,
) -> None:
    """The Pareto front as a table on stdout (:func:`nas.tables.print_table`: numbers never cut);
    ``val_examples``: how many validation examples an accuracy stands on, in the title."""
    from nas.tables import print_table as show
    from search_spaces import ArchConfig

    rows = [
        [
            str(r["index"]),
            *[f"{r['metrics'].get(o.metric, float('nan')):.4g}" for o in objectives],
            ArchConfig.from_dict(r["arch"]).short(),
        ]
        for r in front[:limit]
    ]
    headers = ["#", *(f"{o.metric} ({o.goal})" for o in objectives), "architecture"]
    title = f"Pareto front ({len(front)} architectures)"
    if val_examples and any(o.metric == "accuracy" for o in objectives):
        title += f"; accuracy on {val_examples:,} validation examples"
    show(title, headers, rows, text=[len(headers) - 1])
