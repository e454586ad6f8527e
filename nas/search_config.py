"""The search config: a YAML file plus ``--set key=value`` overrides.

Example (``experiments/search_tabular.yaml`` is a complete one)::

    space: experiments/tabular_toy_space.yaml  # built-in name, YAML path or inline mapping
    evaluators:
      - {kind: table, path: experiments/data/tabular_toy.jsonl}
    objectives:
      - {metric: accuracy, goal: max}
      - {metric: params, goal: min}
    constraints: ["params <= 2e5"]
    strategy: {name: nsga2, population: 20}  # default: bayesian (evolution if every objective is free)
    budget: 200
    seed: 0
    workers: 2        # Ray workers, one pinned core each
    lag: null         # results a proposal may run ahead of (default 2 x workers)
    batch_size: 1     # archs per Ray task
    pool: null        # 'table' (rows of the table evaluator), a JSON-lines file of archs, or null
    hv_reference: null  # reference point of the hypervolume, in metric units

Relative paths are relative to the working directory.  With a table evaluator
and no ``pool`` the search is restricted to the table's rows.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from nas import evaluators as E
from nas.objectives import Constraint, Objective, parse_constraint, parse_objective
from search_spaces import SearchSpace, load_space, space_from_dict, yaml_io
from search_spaces.errors import NasError
from search_spaces.schema import validate
from search_spaces.yaml_io import read_yaml

DEFAULTS: dict[str, Any] = {
    "space": None,
    "evaluators": None,
    "objectives": None,
    "constraints": [],
    "strategy": None,  # default: 'bayesian' when an objective must be measured, else 'evolution'
    "budget": 100,
    "seed": 0,
    "workers": None,
    "lag": None,
    "batch_size": 1,
    "pool": None,
    "hv_reference": None,
}


class SearchConfig(NamedTuple):
    """A checked config; ``raw`` is the mapping it came from (saved in the run dir)."""

    raw: dict
    space: SearchSpace
    evaluators: list[dict]
    objectives: list[Objective]
    constraints: list[Constraint]
    strategy: str
    strategy_options: dict
    budget: int
    seed: int
    workers: int | None
    lag: int | None
    batch_size: int
    pool: str | None
    hv_reference: list[float] | None


def _int(raw: Mapping, key: str, minimum: int, *, allow_none: bool = False) -> int | None:
    v = raw[key]
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise NasError(f"field '{key}': expected an integer >= {minimum}, got {v!r}")
    return v


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """``key=value`` or ``a.b=value`` (value parsed as YAML) into a copy of ``raw``
    (:func:`search_spaces.yaml_io.apply_overrides`, the rule training configs share)."""
    return yaml_io.apply_overrides(raw, overrides, fields=DEFAULTS)


def load_raw(path: str | Path) -> dict:
    data = read_yaml(path, what="search config")
    if not isinstance(data, dict):
        raise NasError(f"search config '{path}': expected a mapping at the top level")
    return data


def _plain(x: Any) -> Any:
    """``x`` as JSON data for the schema: tuples as lists, parsed objectives and constraints as
    the text a file would hold (Python callers may pass those)."""
    if isinstance(x, (Objective, Constraint)):
        return str(x)
    if isinstance(x, Mapping):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _abs(path: str) -> str:
    return os.path.abspath(path) if not os.path.isabs(path) else path


def _add_latency_quantiles(evs: list[dict], metrics: Sequence[str]) -> None:
    """A chance constraint such as ``latency_ms[dev].q90 <= 5`` asks the ``latency``
    evaluator of ``dev`` for its 0.9 bound too (mean and bound are both recorded)."""
    from nas.hw_metrics import peak_needed, quantiles_needed

    for s in evs:
        if s["kind"] == "latency":
            qs = sorted({*map(float, s.get("quantiles", ())), *quantiles_needed(metrics, s["device"])})
            if qs:
                s["quantiles"] = qs
            if peak_needed(metrics, s["device"]):  # peak_mb[dev] <= 512: the predicted peak memory
                s["peak_mb"] = True


def _provides(spec: Mapping[str, Any], space: SearchSpace) -> tuple[str, ...] | None:
    """The metrics an evaluator gives, when known before the run: its kind's static list, or
    for a supernet evaluator the validation metrics of the space's task kind (accuracy and
    loss of a classifier, loss and perplexity of a language model)."""
    known = E.static_provides(spec)
    if known is None and spec["kind"] == "supernet" and space.task:
        from supernet import tasks

        try:
            known = tuple(sorted(tasks.get(space).metrics(1.0, 0.5)))
        except NasError:  # no known task kind: the evaluator's own check names it
            return None
    return known


def check_metrics(objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> None:
    """Meaning, not form: a metric is an objective once (never both maximized and minimized);
    a metric's constraints neither repeat a direction nor leave an empty range."""
    seen: dict[str, int] = {}
    for i, o in enumerate(objectives):
        if o.metric in seen:
            j = seen[o.metric]
            how = "both maximized and minimized" if objectives[j].goal != o.goal else "named twice"
            raise NasError(
                f"field 'objectives[{i}]': metric {o.metric!r} is {how} (objectives[{j}] is "
                f"'{objectives[j]}', objectives[{i}] is '{o}'); give each metric one objective"
            )
        seen[o.metric] = i
    side = {"<=": "upper", "<": "upper", ">=": "lower", ">": "lower", "==": "exact"}
    by_metric: dict[str, list[tuple[int, Constraint]]] = {}
    for i, c in enumerate(constraints):
        for j, d in by_metric.get(c.metric, []):
            if side[c.op] == side[d.op] or "exact" in (side[c.op], side[d.op]):
                raise NasError(
                    f"field 'constraints[{i}]': metric {c.metric!r} is constrained twice the same way "
                    f"('{d}' is constraints[{j}], '{c}' is constraints[{i}]); keep one bound per side"
                )
            lo, hi = (c, d) if side[c.op] == "lower" else (d, c)
            if lo.bound > hi.bound or (lo.bound == hi.bound and (lo.op == ">" or hi.op == "<")):
                raise NasError(
                    f"field 'constraints[{i}]': '{c}' and '{d}' (constraints[{j}]) leave no value of "
                    f"{c.metric!r} feasible"
                )
        by_metric.setdefault(c.metric, []).append((i, c))


def check(raw: Mapping[str, Any], *, source: str = "search config") -> SearchConfig:
    """A SearchConfig from the parsed YAML, with one-line errors naming the field.

    ``raw`` is checked against ``nas/schemas/search.schema.json`` first (``source`` names the
    file in those errors), then for meaning (:func:`check_metrics`, metrics no evaluator gives)."""
    if not isinstance(raw, Mapping):
        raise NasError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise NasError(f"{source}: unknown field {unknown[0]!r}; fields are {sorted(DEFAULTS)}")
    validate(_plain(raw), "nas", "search", where=source)
    raw = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(dict(raw))}
    for key in ("space", "evaluators", "objectives"):
        if raw[key] is None:
            raise NasError(f"search config: field {key!r} is missing")
    if isinstance(raw["space"], Mapping):
        space = space_from_dict(raw["space"], source="field 'space'")
    elif isinstance(raw["space"], str):
        space = load_space(raw["space"])
        if raw["space"].endswith((".yaml", ".yml")):
            raw["space"] = _abs(raw["space"])
    else:
        raise NasError(
            f"field 'space': expected a space name, a YAML path or a mapping, got {raw['space']!r}"
        )

    evs = raw["evaluators"]
    if isinstance(evs, Mapping):
        evs = [evs]
    if not isinstance(evs, list) or not evs:
        raise NasError(f"field 'evaluators': expected a non-empty list, got {raw['evaluators']!r}")
    evs = [E.check_spec(s, where=f"evaluators[{i}]") for i, s in enumerate(evs)]
    for s in evs:
        for key in ("path", "workdir"):
            if key in s:
                s[key] = _abs(s[key])
    raw["evaluators"] = evs

    objs = raw["objectives"]
    if isinstance(objs, Mapping):
        objs = [{k: v} for k, v in objs.items()]
    if not isinstance(objs, list) or not objs:
        raise NasError(f"field 'objectives': expected a non-empty list, got {raw['objectives']!r}")
    objectives = [parse_objective(o, where=f"objectives[{i}]") for i, o in enumerate(objs)]
    cons = raw["constraints"] or []
    if isinstance(cons, str):
        cons = [cons]
    if not isinstance(cons, list):
        raise NasError(f"field 'constraints': expected a list like ['params <= 2e6'], got {cons!r}")
    constraints = [parse_constraint(c, where=f"constraints[{i}]") for i, c in enumerate(cons)]
    try:
        check_metrics(objectives, constraints)
    except NasError as e:
        raise NasError(f"{source}: {e}") from None

    _add_latency_quantiles(evs, [o.metric for o in objectives] + [c.metric for c in constraints])
    known = [_provides(s, space) for s in evs]
    if all(k is not None for k in known):
        names = sorted({m for k in known for m in k})
        for what, metric in [(f"objectives[{i}]", o.metric) for i, o in enumerate(objectives)] + [
            (f"constraints[{i}]", c.metric) for i, c in enumerate(constraints)
        ]:
            if metric not in names:
                raise NasError(
                    f"{source}: field '{what}': metric {metric!r} is not given by any evaluator; "
                    f"they give {names}"
                )

    strat = raw["strategy"]
    if strat is None or (isinstance(strat, Mapping) and "name" not in strat):  # options without a name
        strat = {"name": default_strategy(evs, objectives), **(strat or {})}
    if isinstance(strat, str):
        strat = {"name": strat}
    if not isinstance(strat, Mapping) or "name" not in strat:
        raise NasError(f"field 'strategy': expected {{name: evolution, ...options}}, got {strat!r}")
    from nas import strategies

    opts = {k: v for k, v in strat.items() if k != "name"}
    strategies.make(strat["name"], space, **opts)  # checks name and options now
    raw["strategy"] = dict(strat)

    pool = raw["pool"]
    if pool is not None and not isinstance(pool, str):
        raise NasError(f"field 'pool': expected 'table', a JSON-lines file of archs, or null, got {pool!r}")
    if pool is None and any(s["kind"] == "table" for s in evs):
        pool = "table"
    if pool not in (None, "table"):
        pool = raw["pool"] = _abs(pool)
        if not Path(pool).is_file():
            raise NasError(f"field 'pool': file '{pool}' does not exist")
    if pool == "table" and not any(s["kind"] == "table" for s in evs):
        raise NasError("field 'pool': 'table' needs an evaluator of kind 'table'")

    ref = raw["hv_reference"]
    if ref is not None and (
        not isinstance(ref, list)
        or len(ref) != len(objectives)
        or not all(isinstance(x, (int, float)) for x in ref)
    ):
        raise NasError(
            f"field 'hv_reference': expected {len(objectives)} numbers (one per objective), got {ref!r}"
        )

    return SearchConfig(
        raw=raw,
        space=space,
        evaluators=evs,
        objectives=objectives,
        constraints=constraints,
        strategy=strat["name"],
        strategy_options=opts,
        budget=_int(raw, "budget", 1),
        seed=_int(raw, "seed", 0),
        workers=_int(raw, "workers", 1, allow_none=True),
        lag=_int(raw, "lag", 1, allow_none=True),
        batch_size=_int(raw, "batch_size", 1),
        pool=pool,
        hv_reference=[float(x) for x in ref] if ref is not None else None,
    )


def default_strategy(evaluators: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> str:
    """The surrogate-assisted ``bayesian`` search when some objective is expensive
    (not known before evaluation: accuracy, perplexity, loss), else ``evolution``
    (every objective is free, e.g. params vs predicted latency: thousands of
    evaluations cost nothing and a surrogate would only add overhead)."""
    from nas.free import free_metrics

    free = {m for s in evaluators for m in free_metrics(s)}
    return "evolution" if all(o.metric in free for o in objectives) else "bayesian"


def _set_keys(overrides: Sequence[str]) -> list[str]:
    return [item.partition("=")[0].strip() for item in overrides]


def switch_strategy(raw: Mapping[str, Any], overridden: Mapping[str, Any], overrides: Sequence[str]) -> dict:
    """``--set strategy.name=X`` switches the strategy: options of the file's strategy that
    ``X`` does not take are dropped (``population`` of nsga2 means nothing to bayesian);
    options both take are kept, and options set in the same command are never dropped
    (a wrong one stays an error naming it)."""
    out = dict(overridden)
    keys = _set_keys(overrides)
    old, new = raw.get("strategy"), out.get("strategy")
    if "strategy.name" not in keys or not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return out
    from nas import strategies

    name = new.get("name")
    if name == old.get("name") or not isinstance(name, str) or name not in strategies.FACTORIES:
        return out  # same strategy, or an unknown name that check() reports
    known = set(strategies.options(name))
    explicit = {k.split(".", 1)[1] for k in keys if k.startswith("strategy.")}
    out["strategy"] = {k: v for k, v in new.items() if k == "name" or k in known or k in explicit}
    return out


def load(path: str | Path, overrides: Sequence[str] = ()) -> SearchConfig:
    """Reads, overrides and checks a search config file (see :func:`switch_strategy`)."""
    raw = load_raw(path)
    return check(
        switch_strategy(raw, apply_overrides(raw, overrides), overrides), source=f"search config '{path}'"
    )
