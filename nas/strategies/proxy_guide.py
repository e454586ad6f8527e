"""Zero-cost proxies guiding the Bayesian search: surrogate input and candidate pre-screen.

Two uses, both optional (``strategy: {name: bayesian, proxies: {...}}``; see
docs/proxies.md for the keys and what the study measured):

* **feature** (``feature: true``): each proxy's value, log-scaled when positive and scaled
  by its range over a fixed reference set (the pool, or 64 seeded samples of the space
  plus its smallest and largest members), is one more input column of the surrogate, as
  Shen et al. (ProxyBO, AAAI 2023) and White et al. (NAS-Bench-Suite-Zero's "zero-cost
  proxies as features of a surrogate", Krishnakumar et al., NeurIPS 2022) do;
* **pre-screen** (``prescreen: K``): of the candidates the surrogate would score, only the
  best ``1/K`` by proxy are kept (without a pool ``K * candidates`` are generated and
  ``candidates`` kept), as Abdelfattah et al. (ICLR 2021, "warm-up" and "move proposal")
  pre-screen with a proxy before spending a training.  With free objectives (params, a
  predicted latency) "best" is the non-dominated order of (proxies, free objectives), so
  the pre-screen keeps the small-model end of a trade-off that a proxy correlated with
  size would drop.

Proxy values come from ``supernet.proxies`` (computed once per architecture, cached) or
from ``values: FILE``, a JSON-lines scores file (``nas proxies score ... --out FILE``,
``{"arch", "metrics"}`` rows); higher is better for every proxy.  A value that is NaN or
infinite, or an architecture missing from the file, is one line naming it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from nas.objectives import order_best_first
from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError

KEYS = ("names", "feature", "prescreen", "values", "seed", "batches", "batch_size", "seq_len")
REFERENCE_SAMPLES = 64


class ProxyGuide(NamedTuple):
    """``fn(archs) -> (n, p)`` proxy values (higher is better), and how the search uses them."""

    fn: Callable[[Sequence[ArchConfig]], np.ndarray]
    names: tuple[str, ...]
    feature: bool = True
    prescreen: int = 1


def _int(spec: Mapping[str, Any], key: str, default: int | None, low: int) -> int | None:
    v = spec.get(key, default)
    if v is None and default is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise NasError(f"field 'strategy.proxies.{key}': expected an integer >= {low}, got {v!r}")
    return v


def _table_fn(path: str, names: tuple[str, ...]) -> Callable[[Sequence[ArchConfig]], list[dict]]:
    from nas.table import read_table

    if not Path(path).is_file():
        raise NasError(f"field 'strategy.proxies.values': file '{path}' does not exist")
    table = read_table(path)

    def fn(archs):
        out = []
        for a in archs:
            row = table.get(a.to_json())
            if row is None:
                raise NasError(f"field 'strategy.proxies.values': '{path}' has no row for {a.to_json()}")
            missing = [n for n in names if n not in row]
            if missing:
                raise NasError(
                    f"field 'strategy.proxies.values': '{path}' has no proxy {missing[0]!r} "
                    f"for {a.to_json()}; it has {sorted(row)}"
                )
            out.append(row)
        return out

    return fn


def proxy_guide(space: SearchSpace, spec: Mapping[str, Any] | ProxyGuide | None) -> ProxyGuide | None:
    """The checked ``strategy.proxies`` mapping as a guide (None when absent)."""
    if spec is None or isinstance(spec, ProxyGuide):
        return spec
    if not isinstance(spec, Mapping):
        raise NasError(f"field 'strategy.proxies': expected a mapping like {{names: [snip]}}, got {spec!r}")
    for key in spec:
        if key not in KEYS:
            raise NasError(f"field 'strategy.proxies.{key}': unknown key {key!r}; keys are {list(KEYS)}")
    names = spec.get("names")
    if isinstance(names, str) or not isinstance(names, list) or not names:
        raise NasError(f"field 'strategy.proxies.names': expected a list of proxy names, got {names!r}")
    feature = spec.get("feature", True)
    if not isinstance(feature, bool):
        raise NasError(f"field 'strategy.proxies.feature': expected true or false, got {feature!r}")
    prescreen = _int(spec, "prescreen", 1, 1)
    if not feature and prescreen == 1:
        raise NasError(
            "field 'strategy.proxies': feature is false and prescreen is 1, so the proxies would not "
            "be used; set feature: true or prescreen >= 2"
        )
    path = spec.get("values")
    if path is not None:
        if not isinstance(path, str) or not path:
            raise NasError(f"field 'strategy.proxies.values': expected a file path, got {path!r}")
        if not all(isinstance(n, str) for n in names):
            raise NasError(f"field 'strategy.proxies.names': expected a list of proxy names, got {names!r}")
        names = tuple(dict.fromkeys(names))
        raw = _table_fn(path, names)
    else:
        from supernet import proxies

        names = proxies.check_names(names, where="strategy.proxies.names")
        from supernet import model

        try:
            model.geometry(space)
        except NasError as e:
            raise NasError(
                f"field 'strategy.proxies.names': space '{space.name}' cannot be built to score "
                f"proxies ({e}); give precomputed ones with values: FILE"
            ) from None
        if proxies.needs_data(names):
            from supernet import tasks

            try:
                tasks.get(space)
            except NasError as e:
                raise NasError(
                    f"field 'strategy.proxies.names': space '{space.name}' has no data to probe with ({e}); "
                    "use closed-form proxies (params, nonembed_params, flops) or values: FILE"
                ) from None
        raw = _closed_form(space, names) if not proxies.needs_data(names) else None
        raw = raw or proxies.scorer(
            space,
            names,
            seed=_int(spec, "seed", 0, 0),
            batches=_int(spec, "batches", 1, 1),
            batch_size=_int(spec, "batch_size", 16, 1),
            seq_len=_int(spec, "seq_len", None, 1),
        )
    return ProxyGuide(cached(raw, names), names, feature, prescreen)


def _closed_form(space: SearchSpace, names: tuple[str, ...]) -> Callable[[Sequence[ArchConfig]], list[dict]]:
    """Counts (params, nonembed_params, flops) straight from their formulas: no weights built."""
    from supernet.proxies import complexity

    def fn(archs):
        cols = complexity.values(space, list(archs), names)
        return [{n: float(cols[n][i]) for n in names} for i in range(len(archs))]

    return fn


def cached(
    raw: Callable[[Sequence[ArchConfig]], list[dict]], names: Sequence[str]
) -> Callable[[Sequence[ArchConfig]], np.ndarray]:
    """``raw`` (archs -> [{proxy: value}]) as archs -> (n, p) array, each arch scored once,
    a value that is not finite one line naming it."""
    memo: dict[str, np.ndarray] = {}

    def fn(archs: Sequence[ArchConfig]) -> np.ndarray:
        keys = [a.to_json() for a in archs]
        todo = list({k: a for k, a in zip(keys, archs, strict=True) if k not in memo}.items())
        if todo:
            rows = raw([a for _, a in todo])
            for (k, _), row in zip(todo, rows, strict=True):
                v = np.array([float(row[n]) for n in names])
                bad = [n for n, x in zip(names, v, strict=True) if not math.isfinite(x)]
                if bad:
                    raise NasError(f"proxy {bad[0]!r} is {row[bad[0]]} (not finite) for architecture {k}")
                memo[k] = v
        return np.stack([memo[k] for k in keys]) if keys else np.zeros((0, len(names)))

    return fn


def _squash(V: np.ndarray) -> np.ndarray:
    """Log-scale the columns whose values are all positive (counts, sums of magnitudes)."""
    V = np.asarray(V, dtype=np.float64)
    pos = np.all(V > 0, axis=0)
    return np.where(pos, np.log(np.where(pos, V, 1.0)), V)


class Scaler(NamedTuple):
    lo: np.ndarray
    span: np.ndarray

    def __call__(self, V: np.ndarray) -> np.ndarray:
        return (_squash(V) - self.lo) / self.span


def scaler(guide: ProxyGuide, reference: Sequence[ArchConfig]) -> Scaler:
    """Range of the (log-scaled) values over a fixed reference set of architectures."""
    R = _squash(guide.fn(list(reference)))
    lo, hi = R.min(0), R.max(0)
    return Scaler(lo, np.where(hi > lo, hi - lo, 1.0))


def reference_archs(space: SearchSpace, pool: Sequence[ArchConfig] | None) -> list[ArchConfig]:
    if pool is not None:
        return list(pool)
    rng = np.random.default_rng(0)
    out = {a.to_json(): a for a in [space.smallest(), space.largest()]}
    for _ in range(REFERENCE_SAMPLES):
        a = space.sample(rng)
        out.setdefault(a.to_json(), a)
    return list(out.values())


def screen_order(proxy: np.ndarray, free: np.ndarray | None) -> np.ndarray:
    """Candidates best first: the non-dominated order (then crowding) of the proxies
    (maximized) and the free objectives (minimized), or the proxies' order alone."""
    cols = [-np.asarray(proxy, dtype=np.float64)]
    if free is not None and free.shape[1]:
        cols.append(np.asarray(free, dtype=np.float64))
    F = np.hstack(cols)
    return np.asarray(order_best_first(F, np.zeros(len(F))), dtype=np.int64)


def keep_count(n: int, prescreen: int) -> int:
    return max(1, math.ceil(n / prescreen)) if n else 0
