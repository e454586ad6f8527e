"""Evaluators: what scores an architecture.

Each evaluator is declared in the search config as a mapping with a ``kind``
and built by :func:`build` into an :class:`Evaluator` whose ``fn(archs)``
returns one metrics dict per architecture:

* ``complexity``: ``params``, ``flops``, ``macs``, ``act_bytes`` from the
  closed-form model in :mod:`search_spaces.complexity` (options ``batch_size``,
  ``seq_len``).  Cheap.
* ``table``: a lookup table, JSON lines ``{"arch": {...}, "metrics": {...}}``
  (option ``path``; ``fields`` and ``metrics`` read other tools' formats, see
  :mod:`nas.table`; ``free`` names columns known before evaluation, such as a
  params count, which strategies then use instead of learning them), so that a
  tabular benchmark of any user-declared space can be searched.  It only scores the archs it holds, so a search with a table is
  restricted to its rows (see ``pool`` in :mod:`nas.search_config`).  Cheap.
* ``callable``: the user's Python function ``module:function`` (option
  ``target``, extra ``options`` passed as keywords) taking a list of
  ArchConfig and returning a list of metric dicts.
* ``latency``: the per-device latency predictor, ``predictors.load(device)``;
  metric ``latency_ms[DEVICE]``.  Cheap.
* ``supernet``: inherited-weight metrics (``accuracy``, ``loss``,
  ``perplexity``) from ``supernet.evaluation.load_evaluator(workdir)``, built
  once per Ray worker (it loads an Orbax checkpoint and compiles).

Cheap evaluators also run in the driver to pre-filter proposals against the
constraints on their metrics (HAT resamples children until the predicted
latency fits).  Packages are imported lazily, so a missing part is a clear
NasError only when a config asks for it.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from nas import table as T
from nas.table import read_table, table_archs  # noqa: F401  (re-exported)
from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError

KINDS = ("complexity", "table", "callable", "latency", "supernet")
_OPTIONS = {
    "complexity": {"batch_size", "seq_len"},
    "table": set(T.TABLE_OPTIONS),
    "callable": {"target", "options"},
    "latency": {"device", "quantiles"},
    "supernet": {"workdir"},
}
_REQUIRED = {"table": ("path",), "callable": ("target",), "latency": ("device",), "supernet": ("workdir",)}
COMPLEXITY_METRICS = ("params", "flops", "macs", "act_bytes")


class Evaluator(NamedTuple):
    """``fn(archs) -> list of metric dicts``; ``provides`` lists the metric names
    when they are known in advance (None for user callables and the supernet)."""

    kind: str
    fn: Callable[[list[ArchConfig]], list[dict[str, float]]]
    cheap: bool
    provides: tuple[str, ...] | None


def check_spec(spec: Any, *, where: str = "evaluators") -> dict:
    """Validates one evaluator declaration (no imports, no file reads)."""
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise NasError(
            f"field '{where}': expected a mapping with a 'kind' ({', '.join(KINDS)}), got {spec!r}"
        )
    kind = spec["kind"]
    if kind not in KINDS:
        raise NasError(f"field '{where}.kind': unknown evaluator {kind!r}; choose one of {list(KINDS)}")
    extra = sorted(set(spec) - _OPTIONS[kind] - {"kind"})
    if extra:
        raise NasError(
            f"field '{where}.{extra[0]}': evaluator {kind!r} has no option {extra[0]!r}; "
            f"options are {sorted(_OPTIONS[kind])}"
        )
    for key in _REQUIRED.get(kind, ()):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise NasError(
                f"field '{where}.{key}': evaluator {kind!r} needs a string {key!r}, got {spec.get(key)!r}"
            )
    if kind == "table":
        T.check_options(spec, where=where)
    if kind == "latency" and "quantiles" in spec:
        qs = spec["quantiles"]
        if not isinstance(qs, list) or not all(
            isinstance(q, (int, float)) and not isinstance(q, bool) and 0 < q < 1 for q in qs
        ):
            raise NasError(
                f"field '{where}.quantiles': expected probabilities in (0, 1) like [0.9], got {qs!r}"
            )
    if kind == "callable" and ":" not in spec["target"]:
        raise NasError(f"field '{where}.target': expected 'module:function', got {spec['target']!r}")
    return dict(spec)


def static_provides(spec: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Metric names an evaluator gives, known without building it (None: unknown)."""
    if spec["kind"] == "complexity":
        return COMPLEXITY_METRICS
    if spec["kind"] == "latency":
        from nas.hw_metrics import metric_name

        return tuple(metric_name("latency_ms", spec["device"], q) for q in [None, *spec.get("quantiles", ())])
    if spec["kind"] == "table":
        return tuple(sorted({k for m in read_table(spec["path"], **T.mapping(spec)).values() for k in m}))
    return None


def is_cheap(spec: Mapping[str, Any]) -> bool:
    return spec["kind"] in ("complexity", "table", "latency")


# ---- building ---------------------------------------------------------------------
def _load_callable(target: str) -> Callable:
    module, _, name = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise NasError(f"field 'evaluators.target': cannot import module {module!r} ({e})") from None
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise NasError(f"field 'evaluators.target': module {module!r} has no function {name!r}")
    return fn


def _check_output(kind: str, out: Any, n: int) -> list[dict[str, float]]:
    if not isinstance(out, (list, tuple)) or len(out) != n:
        raise NasError(
            f"evaluator {kind!r} returned {type(out).__name__} for {n} archs; expected a list of {n} dicts"
        )
    rows = []
    for m in out:
        if not isinstance(m, Mapping):
            raise NasError(f"evaluator {kind!r} returned {m!r}; expected a dict of metric -> number")
        rows.append({str(k): float(v) for k, v in m.items()})
    return rows


def build(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    """An Evaluator from its declaration (imports the package it needs)."""
    spec = check_spec(spec)
    kind = spec["kind"]
    if kind == "complexity":
        from search_spaces.complexity import complexity

        bs, seq = int(spec.get("batch_size", 1)), spec.get("seq_len")
        complexity(space, [space.smallest()], batch_size=bs, seq_len=seq)  # fails early on a bad space

        def fn(archs):
            c = complexity(space, archs, batch_size=bs, seq_len=seq)
            return [{k: float(c[k][i]) for k in COMPLEXITY_METRICS} for i in range(len(archs))]

        return Evaluator(kind, fn, True, COMPLEXITY_METRICS)

    if kind == "table":
        table = read_table(spec["path"], **T.mapping(spec))

        def fn(archs):
            out = []
            for a in archs:
                row = table.get(a.to_json())
                if row is None:
                    raise NasError(f"table '{spec['path']}' has no row for architecture {a.to_json()}")
                out.append(dict(row))
            return out

        return Evaluator(kind, fn, True, static_provides(spec))

    if kind == "callable":
        user = _load_callable(spec["target"])
        opts = dict(spec.get("options") or {})

        def fn(archs):
            return _check_output(spec["target"], user(list(archs), **opts), len(archs))

        return Evaluator(kind, fn, False, None)

    if kind == "latency":
        try:
            predictors = importlib.import_module("predictors")
        except ImportError as e:
            raise NasError(f"evaluator 'latency' needs the predictors package ({e})") from None
        if not hasattr(predictors, "load_for"):
            raise NasError(
                "evaluator 'latency': predictors.load_for(device, space) is not available in this installation"
            )
        from nas.hw_metrics import latency_values

        model = predictors.load_for(spec["device"], space)
        qs = list(spec.get("quantiles", ()))

        def fn(archs):
            cols = latency_values(model, list(archs), spec["device"], qs)
            return [{k: float(v[i]) for k, v in cols.items()} for i in range(len(archs))]

        return Evaluator(kind, fn, True, static_provides(spec))

    # supernet
    try:
        evaluation = importlib.import_module("supernet.evaluation")
    except ImportError as e:
        raise NasError(f"evaluator 'supernet' needs supernet.evaluation ({e})") from None
    if not hasattr(evaluation, "load_evaluator"):
        raise NasError("evaluator 'supernet': supernet.evaluation.load_evaluator(workdir) is not available")
    if not Path(spec["workdir"]).exists():
        raise NasError(
            f"field 'evaluators.workdir': supernet run directory '{spec['workdir']}' does not exist"
        )
    inherited = evaluation.load_evaluator(spec["workdir"])

    def fn(archs):
        return _check_output("supernet", inherited(list(archs)), len(archs))

    return Evaluator(kind, fn, False, None)


def evaluate_all(evaluators: Sequence[Evaluator], archs: list[ArchConfig]) -> list[dict[str, float]]:
    """Merged metrics of every evaluator for each arch."""
    out: list[dict[str, float]] = [{} for _ in archs]
    for ev in evaluators:
        for row, m in zip(out, ev.fn(archs), strict=False):
            row.update({k: (v if math.isfinite(v) else float("nan")) for k, v in m.items()})
    return out
