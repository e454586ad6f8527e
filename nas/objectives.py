"""Objectives, constraints, Pareto fronts and hypervolume.

An objective is a metric name and a goal (``max`` or ``min``); a metric name is
a plain word (``accuracy``, ``params``, ``flops``) or a word with a bracketed
qualifier (``latency_ms[cpu-host]``), which may name an upper quantile
(``latency_ms[cpu-host].q90``: a chance constraint, :mod:`nas.hw_metrics`).  A
constraint is written as text, e.g. ``latency_ms[cpu-host] <= 5``,
``latency_ms[cpu-host].q90 <= 5`` or ``params <= 2e6``.

Strategies see every result as a vector of objectives *to minimize* (maximized
metrics are negated) plus one non-negative constraint violation (0 when every
constraint holds).  Non-dominated sorting and hypervolume come from pymoo
(Blank & Deb, IEEE Access 2020); NSGA-II's ranking and crowding distance are
those of Deb et al. (IEEE TEVC 2002).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from search_spaces.errors import NasError

_METRIC = r"[A-Za-z_][\w.]*(?:\[[^\]\s]+\](?:\.q\d{1,3})?)?"
_CONSTRAINT_RE = re.compile(rf"^\s*({_METRIC})\s*(<=|>=|<|>|==)\s*(\S+)\s*$")
_METRIC_RE = re.compile(rf"^{_METRIC}$")
GOALS = ("max", "min")


class Objective(NamedTuple):
    """A metric to maximize or minimize."""

    metric: str
    goal: str = "max"

    @property
    def sign(self) -> float:
        """Multiplier that turns the metric into a value to minimize."""
        return -1.0 if self.goal == "max" else 1.0

    def __str__(self) -> str:
        return f"{self.goal} {self.metric}"


class Constraint(NamedTuple):
    """``metric op bound``, e.g. ``params <= 2e6``."""

    metric: str
    op: str
    bound: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"

    def violation(self, value: float) -> float:
        """0 when satisfied, else the distance to the bound relative to ``|bound|`` (or 1)."""
        scale = abs(self.bound) if self.bound != 0 else 1.0
        if self.op in ("<=", "<"):
            gap = value - self.bound
            bad = gap > 0 or (self.op == "<" and gap == 0)
        elif self.op in (">=", ">"):
            gap = self.bound - value
            bad = gap > 0 or (self.op == ">" and gap == 0)
        else:
            gap = abs(value - self.bound)
            bad = gap > 0
        if not math.isfinite(value):
            return math.inf
        return max(gap, 1e-12) / scale if bad else 0.0


def parse_objective(obj: Any, *, where: str = "objectives") -> Objective:
    """From ``{"metric": "accuracy", "goal": "max"}``, ``{"accuracy": "max"}`` or ``"max accuracy"``."""
    if isinstance(obj, Objective):
        return obj
    if isinstance(obj, str):
        parts = obj.split()
        if len(parts) == 2 and parts[0] in GOALS:
            obj = {"goal": parts[0], "metric": parts[1]}
        else:
            raise NasError(f"field '{where}': expected 'max METRIC' or 'min METRIC', got {obj!r}")
    if isinstance(obj, Mapping) and set(obj) - {"metric", "goal"} and len(obj) == 1:
        ((metric, goal),) = obj.items()
        obj = {"metric": metric, "goal": goal}
    if not isinstance(obj, Mapping) or "metric" not in obj:
        raise NasError(f"field '{where}': expected {{metric: NAME, goal: max|min}}, got {obj!r}")
    extra = sorted(set(obj) - {"metric", "goal"})
    if extra:
        raise NasError(f"field '{where}': unknown key {extra[0]!r}; allowed keys are ['goal', 'metric']")
    metric, goal = obj["metric"], obj.get("goal", "max")
    if not isinstance(metric, str) or not _METRIC_RE.match(metric):
        raise NasError(f"field '{where}.metric': not a metric name: {metric!r}")
    if goal not in GOALS:
        raise NasError(f"field '{where}.goal': expected 'max' or 'min', got {goal!r}")
    return Objective(metric, goal)


def parse_constraint(text: Any, *, where: str = "constraints") -> Constraint:
    """From text like ``latency_ms[cpu-host] <= 5``."""
    if isinstance(text, Constraint):
        return text
    m = _CONSTRAINT_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise NasError(f"field '{where}': expected 'METRIC <= NUMBER' (or <, >=, >, ==), got {text!r}")
    metric, op, bound = m.groups()
    try:
        value = float(bound)
    except ValueError:
        raise NasError(f"field '{where}': bound {bound!r} of {text!r} is not a number") from None
    if not math.isfinite(value):
        raise NasError(f"field '{where}': bound of {text!r} must be finite")
    return Constraint(metric, op, value)


def _metric(metrics: Mapping[str, float], name: str) -> float:
    if name not in metrics:
        raise NasError(f"metric {name!r} is not produced by any evaluator; evaluators give {sorted(metrics)}")
    value = metrics[name]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise NasError(f"metric {name!r} has non-numeric value {value!r}") from None


def objective_vector(metrics: Mapping[str, float], objectives: Sequence[Objective]) -> np.ndarray:
    """Objectives to minimize, shape (k,); NaN becomes +inf (worst)."""
    out = np.array([o.sign * _metric(metrics, o.metric) for o in objectives], dtype=np.float64)
    return np.where(np.isnan(out), np.inf, out)


def total_violation(metrics: Mapping[str, float], constraints: Sequence[Constraint]) -> float:
    """Sum of relative violations of all constraints; 0 means feasible."""
    return float(sum(c.violation(_metric(metrics, c.metric)) for c in constraints))


def nondominated_ranks(F: np.ndarray) -> np.ndarray:
    """Front index of each row (0 = non-dominated), minimization."""
    F = np.asarray(F, dtype=np.float64)
    n = len(F)
    ranks = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ranks
    if F.shape[1] == 1:
        _, inv = np.unique(F[:, 0], return_inverse=True)
        return inv.astype(np.int64)
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    F = np.where(np.isfinite(F), F, np.finfo(np.float64).max)
    for r, front in enumerate(NonDominatedSorting().do(F)):
        ranks[front] = r
    return ranks


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within one front (inf at the extremes)."""
    F = np.asarray(F, dtype=np.float64)
    if len(F) <= 2:
        return np.full(len(F), np.inf)
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance

    return np.asarray(calc_crowding_distance(np.where(np.isfinite(F), F, np.finfo(np.float64).max)))


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """True for rows on the Pareto front (minimization); duplicates of a front point stay."""
    F = np.asarray(F, dtype=np.float64)
    if len(F) == 0:
        return np.zeros(0, dtype=bool)
    return nondominated_ranks(F) == 0


def order_best_first(F: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """Indices from best to worst: feasible first, then by violation, front rank,
    crowding distance (larger first) and finally index (older first, for ties)."""
    F = np.asarray(F, dtype=np.float64).reshape(len(violation), -1)
    violation = np.asarray(violation, dtype=np.float64)
    n = len(violation)
    rank = np.full(n, 0, dtype=np.int64)
    crowd = np.zeros(n)
    feas = violation <= 0
    if feas.any():
        idx = np.flatnonzero(feas)
        rank[idx] = nondominated_ranks(F[idx])
        for r in np.unique(rank[idx]):
            members = idx[rank[idx] == r]
            crowd[members] = crowding_distance(F[members])
    crowd = np.where(np.isinf(crowd), np.finfo(np.float64).max, crowd)
    return np.lexsort((np.arange(n), -crowd, rank, np.where(feas, 0.0, violation)))


def table_reference(F: np.ndarray, *, margin: float = 1e-4) -> np.ndarray:
    """A hypervolume reference fixed by a set of objective rows (to minimize), e.g.
    every feasible row of a table or a space's extremes: each column's worst
    finite value moved out by ``margin`` of its size (1.0001 x the maximum of a
    positive column, as HW-GPT-Bench's README does), so that every row counts."""
    F = np.asarray(F, dtype=np.float64)
    F = F[np.all(np.isfinite(F), axis=1)]
    if len(F) == 0:
        raise NasError("no finite objective rows to fix a hypervolume reference from")
    worst = F.max(0)
    spread = np.maximum(np.abs(worst), F.max(0) - F.min(0))
    return worst + margin * np.where(spread > 0, spread, 1.0)


def hypervolume(F: np.ndarray, ref: Sequence[float]) -> float:
    """Hypervolume dominated by ``F`` (minimization) up to reference point ``ref``."""
    F = np.asarray(F, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if len(F) == 0:
        return 0.0
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    if F.shape[1] == 1:
        return float(ref[0] - F[:, 0].min())
    from pymoo.indicators.hv import HV

    return float(HV(ref_point=ref)(F))
