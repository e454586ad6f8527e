"""Choosing which subnets of a finished search to export.

``--select best`` takes the run's best feasible evaluation
(:func:`nas.run_outputs.best_record`: by the first objective, ties broken by the
next objectives in order, so always on the front), ``pareto`` every member of the
feasible Pareto front, and a constraint such as ``"latency_ms[cpu-host]<=5"`` the
best by the same rule among evaluations that also meet it (metrics missing from the history, like a latency the search
did not score, are computed with the matching evaluator).
"""

from __future__ import annotations

from pathlib import Path

from search_spaces import NasError


def select_records(run_dir: str | Path, select: str) -> tuple[object, list[dict]]:
    """Returns the run's SearchConfig and the chosen history records (arch dict + metrics)."""
    from nas import run_dir as RD
    from nas.objectives import parse_constraint
    from nas.run_outputs import best_record, pareto_front

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NasError(f"search run '{run_dir}' does not exist")
    cfg = RD.load_config(run_dir)
    records = [r for _, r in sorted(RD.read_history(run_dir, budget=cfg.budget).items())]
    if not records:
        raise NasError(f"search run '{run_dir}' has no finished evaluation (history.jsonl is empty)")
    if select == "pareto":
        chosen = pareto_front(records, cfg.objectives, cfg.constraints)
    else:
        constraints = list(cfg.constraints)
        if select != "best":
            extra = parse_constraint(select.replace("<=", " <= ").replace(">=", " >= "), where="--select")
            _fill_metric(cfg, records, extra.metric)
            constraints.append(extra)
        best = best_record(records, cfg.objectives, constraints)
        if best is None:
            raise NasError(
                f"field '--select': no evaluation of '{run_dir}' meets {select!r} and the run's constraints"
            )
        chosen = [best]
    if not chosen:
        raise NasError(f"field '--select': nothing in '{run_dir}' matches {select!r}")
    return cfg, chosen


def _fill_metric(cfg, records: list[dict], metric: str) -> None:
    """Adds ``metric`` to records that lack it, using the latency or complexity evaluator."""
    missing = [r for r in records if metric not in r["metrics"]]
    if not missing:
        return
    archs = [cfg.space.parse(r["arch"]) for r in missing]
    from nas.hw_metrics import fill_latency, parse

    if parse(metric) is not None:
        values = fill_latency(cfg.space, archs, metric)
    else:
        from search_spaces import complexity

        try:
            values = complexity(cfg.space, archs)[metric]
        except KeyError:
            raise NasError(f"field '--select': the run has no metric {metric!r}") from None
    for r, v in zip(missing, values, strict=True):
        r["metrics"][metric] = float(v)


def supernet_workdir(cfg) -> str:
    for spec in cfg.evaluators:
        if spec.get("kind") == "supernet":
            return spec["workdir"]
    raise NasError("this search did not use a supernet evaluator, so there are no weights to export")
