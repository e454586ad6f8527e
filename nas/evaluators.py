"""Evaluators: what scores an architecture.

Each evaluator is declared in the search config as a mapping with a ``kind``
and built by :func:`build` into an :class:`Evaluator` whose ``fn(archs)``
returns one metrics dict per architecture:

* ``complexity``: ``params``, ``flops``, ``macs``, ``act_bytes`` and
  ``kv_cache_mb`` (the KV cache at ``seq_len``, default the context) from the
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
  ArchConfig and returning a list of metric dicts.  ``cheap: true`` declares
  it fast enough to run in the driver.  It is code: a search config that names
  one runs it, as does every module of the working directory it imports.  The
  working directory is importable in the driver (:func:`nas.user_evaluator.user_path`) as on the
  workers, however ``nas`` was started (the console script puts its own folder
  first on ``sys.path``, not the working directory).
* ``latency``: the per-device latency predictor, ``predictors.load(device)``;
  metric ``latency_ms[DEVICE]``; ``columns`` maps a CSV-fitted device's columns to
  the architecture (:mod:`predictors.arch_columns`).  Cheap.
* ``supernet``: inherited-weight metrics (``accuracy``, ``loss``,
  ``perplexity``) of the latest checkpoint in ``workdir``
  (:func:`supernet.evaluation.load_payload`), built once per Ray worker (it
  compiles).
* ``proxy``: zero-cost proxies at initialization (:mod:`supernet.proxies`; option
  ``proxies``, a list of names, each its own metric; ``batches``, ``batch_size``,
  ``seq_len``, ``seed``), no training and no checkpoint: a zero-shot search pairs it with
  ``complexity`` or ``latency``.  Built once per Ray worker (it compiles one program per
  embedding width); ``cheap: true`` runs it in the driver instead.  A value that is NaN or
  infinite is an error naming the proxy and the architecture, never a number for the search.

Every file an evaluator reads (a table, a fitted predictor, the supernet's
checkpoint and validation data) is read by its kind's ``load`` into an
in-memory *payload*, once, in the driver; ``build(spec, space, payload)`` then
reads no file.  The Ray executor hands the payloads to its workers through
Ray's object store, so a worker on another machine never needs the driver's
paths (see docs/design.md, "Searches on a cluster").

Each kind is one entry of :data:`KINDS` (its options, required fields, the
metrics it provides, whether it is cheap, how it is built).  Cheap evaluators
also run in the driver to pre-filter proposals against the constraints on
their metrics (HAT resamples children until the predicted latency fits), and
a search whose evaluators are all cheap runs in the driver without Ray.
:func:`preflight` builds (or, for the supernet, checks) every evaluator in
the driver before any evaluation, so that one that cannot be built is one
line naming it, the field and the cause.  Packages are imported lazily.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from nas import table as T
from nas.proxy_evaluator import build_proxy, check_proxy
from nas.table import read_table, table_archs  # noqa: F401  (re-exported)
from nas.user_evaluator import build_callable, check_output, first_line  # noqa: F401  (first_line re-exported)
from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError

COMPLEXITY_METRICS = ("params", "flops", "macs", "act_bytes", "kv_cache_mb")
Fn = Callable[[list[ArchConfig]], list[dict[str, float]]]


class Evaluator(NamedTuple):
    """``fn(archs) -> list of metric dicts``; ``provides`` lists the metric names
    when they are known in advance (None for user callables and the supernet)."""

    kind: str
    fn: Fn
    cheap: bool
    provides: tuple[str, ...] | None
    payload: Any = None  # what its kind's ``load`` read (shipped to Ray workers as is)


class Kind(NamedTuple):
    """One evaluator kind: everything the search needs to know about it."""

    options: frozenset[str]
    required: tuple[str, ...]  # string options that must be given
    provides: Callable[[Mapping[str, Any]], tuple[str, ...] | None]  # metric names, known without building
    cheap: Callable[[Mapping[str, Any]], bool]  # may run in the driver
    build: Callable[[Mapping[str, Any], SearchSpace, Any], Fn]  # (spec, space, payload); reads no file
    check: Callable[[Mapping[str, Any], SearchSpace], None] | None = None  # preflight instead of a build
    load: Callable[[Mapping[str, Any], SearchSpace], Any] | None = None  # the payload from the driver's files


# ---- the kinds ----------------------------------------------------------------------
def _build_complexity(spec: Mapping[str, Any], space: SearchSpace, payload: None) -> Fn:
    from search_spaces.complexity import complexity

    bs, seq = int(spec.get("batch_size", 1)), spec.get("seq_len")
    complexity(space, [space.smallest()], batch_size=bs, seq_len=seq)  # fails early on a bad space

    def fn(archs):
        c = complexity(space, archs, batch_size=bs, seq_len=seq)
        return [{k: float(c[k][i]) for k in COMPLEXITY_METRICS} for i in range(len(archs))]

    return fn


def _load_table(spec: Mapping[str, Any], space: SearchSpace) -> dict:
    return read_table(spec["path"], **T.mapping(spec))


def _build_table(spec: Mapping[str, Any], space: SearchSpace, table: dict) -> Fn:
    def fn(archs):
        out = []
        for a in archs:
            row = table.get(a.to_json())
            if row is None:
                raise NasError(f"table '{spec['path']}' has no row for architecture {a.to_json()}")
            out.append(dict(row))
        return out

    return fn


def _load_latency(spec: Mapping[str, Any], space: SearchSpace) -> Any:
    """The device's fitted predictor (``$NAS_PREDICTORS`` or the shipped ones), in memory."""
    try:
        predictors = importlib.import_module("predictors")
    except ImportError as e:
        raise NasError(f"field 'device': the latency evaluator needs the predictors package ({e})") from None
    p = predictors.load_for(spec["device"], space)
    if spec.get("columns") is None:
        return p
    from predictors.arch_columns import columns_predictor

    return columns_predictor(spec["device"], p, spec["columns"], space)


def _build_latency(spec: Mapping[str, Any], space: SearchSpace, model: Any) -> Fn:
    from nas.hw_metrics import latency_values

    qs = list(spec.get("quantiles", ()))

    def fn(archs):
        cols = latency_values(model, list(archs), spec["device"], qs, peak=bool(spec.get("peak_mb")))
        return [{k: float(v[i]) for k, v in cols.items()} for i in range(len(archs))]

    return fn


def _latency_provides(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The mean and, for each of ``quantiles`` (added by a chance constraint), its upper bound."""
    from nas.hw_metrics import metric_name

    out = [metric_name("latency_ms", spec["device"], q) for q in [None, *spec.get("quantiles", ())]]
    return tuple(out + ([metric_name("peak_mb", spec["device"])] if spec.get("peak_mb") else []))


def _check_supernet(spec: Mapping[str, Any], space: SearchSpace) -> None:
    """The workdir holds a checkpoint of this space (reads its JSON record, not the weights)."""
    from supernet import checkpoint

    trained = checkpoint.read_space(spec["workdir"])
    if trained.to_dict() != space.to_dict():
        raise NasError(
            f"field 'workdir': supernet '{spec['workdir']}' was trained on space '{trained.name}', "
            f"not on the search's space '{space.name}'"
        )


def _load_supernet(spec: Mapping[str, Any], space: SearchSpace) -> dict:
    """The latest checkpoint's weights and the validation batches (numpy), read once."""
    from supernet.evaluation import load_payload

    _check_supernet(spec, space)
    return load_payload(spec["workdir"])


def _build_supernet(spec: Mapping[str, Any], space: SearchSpace, payload: dict) -> Fn:
    from supernet.evaluation import evaluator_from_payload

    inherited = evaluator_from_payload(payload)

    def fn(archs):
        return check_output("supernet", inherited(list(archs)), len(archs))

    return fn


def _table_provides(spec: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted({k for m in read_table(spec["path"], **T.mapping(spec)).values() for k in m}))


def _never(spec: Mapping[str, Any]) -> bool:
    return False


def _always(spec: Mapping[str, Any]) -> bool:
    return True


def _unknown(spec: Mapping[str, Any]) -> None:
    return None


KINDS: dict[str, Kind] = {
    "complexity": Kind(
        frozenset({"batch_size", "seq_len"}), (), lambda s: COMPLEXITY_METRICS, _always, _build_complexity
    ),
    "table": Kind(
        frozenset(T.TABLE_OPTIONS), ("path",), _table_provides, _always, _build_table, load=_load_table
    ),
    "callable": Kind(
        frozenset({"target", "options", "cheap"}),
        ("target",),
        _unknown,
        lambda s: bool(s.get("cheap", False)),
        build_callable,
    ),
    "latency": Kind(
        frozenset({"device", "quantiles", "peak_mb", "columns"}),
        ("device",),
        _latency_provides,
        _always,
        _build_latency,
        load=_load_latency,
    ),
    "supernet": Kind(
        frozenset({"workdir"}),
        ("workdir",),
        _unknown,
        _never,
        _build_supernet,
        _check_supernet,
        _load_supernet,
    ),
    "proxy": Kind(
        frozenset({"proxies", "batches", "batch_size", "seq_len", "seed", "cheap"}),
        (),
        lambda s: tuple(s["proxies"]),
        lambda s: bool(s.get("cheap", False)),
        build_proxy,
        check_proxy,
    ),
}


# ---- what the rest of the search uses ----------------------------------------------------
def check_spec(spec: Any, *, where: str = "evaluators") -> dict:
    """Validates one evaluator declaration (no imports, no file reads)."""
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise NasError(
            f"field '{where}': expected a mapping with a 'kind' ({', '.join(KINDS)}), got {spec!r}"
        )
    kind = spec["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise NasError(f"field '{where}.kind': unknown evaluator {kind!r}; choose one of {list(KINDS)}")
    k = KINDS[kind]
    extra = sorted(set(spec) - k.options - {"kind"})
    if extra:
        raise NasError(
            f"field '{where}.{extra[0]}': evaluator {kind!r} has no option {extra[0]!r}; "
            f"options are {sorted(k.options)}"
        )
    for key in k.required:
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise NasError(
                f"field '{where}.{key}': evaluator {kind!r} needs a string {key!r}, got {spec.get(key)!r}"
            )
    if kind == "table":
        T.check_options(spec, where=where)
    if kind == "complexity":
        for key in ("batch_size", "seq_len"):
            v = spec.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise NasError(f"field '{where}.{key}': expected an integer >= 1, got {v!r}")
    if kind == "latency" and not isinstance(spec.get("peak_mb", False), bool):
        raise NasError(f"field '{where}.peak_mb': expected true or false, got {spec['peak_mb']!r}")
    if kind == "latency" and "quantiles" in spec:
        qs = spec["quantiles"]
        if not isinstance(qs, list) or not all(
            isinstance(q, (int, float)) and not isinstance(q, bool) and 0 < q < 1 for q in qs
        ):
            raise NasError(
                f"field '{where}.quantiles': expected probabilities in (0, 1) like [0.9], got {qs!r}"
            )
    if kind == "proxy":
        names = spec.get("proxies")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise NasError(f"field '{where}.proxies': expected a list of proxy names, got {names!r}")
        for key in ("batches", "batch_size", "seq_len", "seed"):
            v = spec.get(key)
            low = 0 if key == "seed" else 1
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                raise NasError(f"field '{where}.{key}': expected an integer >= {low}, got {v!r}")
        if not isinstance(spec.get("cheap", False), bool):
            raise NasError(f"field '{where}.cheap': expected true or false, got {spec['cheap']!r}")
    if kind == "callable":
        if ":" not in spec["target"]:
            raise NasError(f"field '{where}.target': expected 'module:function', got {spec['target']!r}")
        if not isinstance(spec.get("options") or {}, Mapping):
            raise NasError(
                f"field '{where}.options': expected a mapping of keywords, got {spec['options']!r}"
            )
        if not isinstance(spec.get("cheap", False), bool):
            raise NasError(f"field '{where}.cheap': expected true or false, got {spec['cheap']!r}")
    return dict(spec)


def static_provides(spec: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Metric names an evaluator gives, known without building it (None: unknown)."""
    return KINDS[spec["kind"]].provides(spec)


def is_cheap(spec: Mapping[str, Any]) -> bool:
    """Fast enough to run in the driver (the search's pre-filter, a search without Ray)."""
    return KINDS[spec["kind"]].cheap(spec)


def load(spec: Mapping[str, Any], space: SearchSpace) -> Any:
    """What the evaluator reads from files (a table, a fitted predictor, the supernet's
    weights and validation data), in memory and picklable; None for kinds that read none."""
    k = KINDS[spec["kind"]]
    return k.load(spec, space) if k.load is not None else None


_READ = object()


def build(spec: Mapping[str, Any], space: SearchSpace, payload: Any = _READ) -> Evaluator:
    """An Evaluator from its declaration (imports the package it needs) and its payload
    (:func:`load`; read from the files here when not given)."""
    spec = check_spec(spec)
    k = KINDS[spec["kind"]]
    if payload is _READ:
        payload = load(spec, space)
    return Evaluator(spec["kind"], k.build(spec, space, payload), k.cheap(spec), k.provides(spec), payload)


def preflight(specs: Sequence[Mapping[str, Any]], space: SearchSpace) -> list[Evaluator | None]:
    """Builds every evaluator in the driver, or checks it where a build is heavy (the supernet:
    its checkpoint and space, not its weights).  Raises one line naming the evaluator, the
    field and the cause; returns the built evaluators (None where only checked)."""
    out: list[Evaluator | None] = []
    for i, spec in enumerate(specs):
        k = KINDS[spec["kind"]]
        try:
            if k.check is not None:
                k.check(spec, space)
                out.append(None)
            else:
                out.append(build(spec, space))
        except NasError as e:
            msg = str(e).replace("field 'evaluators.", "field '")
            raise NasError(f"evaluators[{i}] ({spec['kind']}): {msg}") from None
    return out


def payloads(
    specs: Sequence[Mapping[str, Any]], space: SearchSpace, built: Sequence[Evaluator | None]
) -> list[Any]:
    """Each evaluator's payload for the Ray workers: the preflight build's, or read now (the
    supernet's weights, which preflight only checked).  Errors name the evaluator as preflight does."""
    out = []
    for i, (spec, b) in enumerate(zip(specs, built, strict=True)):
        try:
            out.append(b.payload if b is not None else load(spec, space))
        except NasError as e:
            msg = str(e).replace("field 'evaluators.", "field '")
            raise NasError(f"evaluators[{i}] ({spec['kind']}): {msg}") from None
    return out


def evaluate_all(evaluators: Sequence[Evaluator], archs: list[ArchConfig]) -> list[dict[str, float]]:
    """Merged metrics of every evaluator for each arch."""
    out: list[dict[str, float]] = [{} for _ in archs]
    for ev in evaluators:
        for row, m in zip(out, ev.fn(archs), strict=False):
            row.update({k: (v if math.isfinite(v) else float("nan")) for k, v in m.items()})
    return out
