"""Hardware metric names: ``latency_ms[DEVICE]`` and its chance-constraint bound ``.q90``.

A hardware metric is a base (``latency_ms``) qualified by a device, optionally
followed by an upper quantile: ``latency_ms[cpu-host].q90`` is the predicted
latency that the device's predictor says is exceeded with probability at most
10 % (its calibrated conformal bound, :mod:`predictors.intervals`).  So
``latency_ms[cpu-host].q90 <= 5`` is a chance constraint: P(latency <= 5 ms) >= 0.9
(Charnes & Cooper, "Chance-constrained programming", Management Science 1959),
where the plain ``latency_ms[cpu-host] <= 5`` holds only on average.  The digits
after ``q`` are the decimals of the probability: ``q90`` 0.90, ``q95`` 0.95,
``q975`` 0.975.  ``peak_mb[DEVICE]`` is the predicted peak memory (MiB) of the
compiled forward for the device's batch size and sequence length (XLA's memory
analysis, measured in the campaign): ``peak_mb[jetson] <= 512``.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

import numpy as np

from search_spaces import ArchConfig, NasError, SearchSpace

BASES = ("latency_ms", "peak_mb")
_RE = re.compile(r"^(latency_ms|peak_mb)\[([^\]\s]+)\](?:\.q(\d{1,3}))?$")


class HwMetric(NamedTuple):
    base: str
    device: str
    q: float | None  # None: the mean prediction

    @property
    def name(self) -> str:
        return metric_name(self.base, self.device, self.q)


def metric_name(base: str, device: str, q: float | None = None) -> str:
    """``latency_ms[dev]`` or ``latency_ms[dev].q90`` (``q`` = 0.9)."""
    if q is None:
        return f"{base}[{device}]"
    digits = f"{q:.3f}"[2:].rstrip("0").ljust(2, "0")  # 0.9 -> q90, 0.975 -> q975
    return f"{base}[{device}].q{digits}"


def parse(name: str) -> HwMetric | None:
    """The parts of a hardware metric name, or None for any other metric."""
    m = _RE.match(name) if isinstance(name, str) else None
    if not m:
        return None
    base, device, digits = m.groups()
    q = None
    if digits is not None:
        q = float(f"0.{digits}")
        if not 0 < q < 1:
            raise NasError(f"metric {name!r}: quantile q{digits} must lie strictly between q0 and q1")
    return HwMetric(base, device, q)


def quantiles_needed(metrics: Sequence[str], device: str) -> list[float]:
    """The upper quantiles of ``latency_ms[device]`` that ``metrics`` name (sorted, unique)."""
    hs = [h for h in map(parse, metrics) if h is not None and h.device == device]
    out = {h.q for h in hs if h.base == "latency_ms" and h.q is not None}
    if any(h.base == "peak_mb" and h.q is not None for h in hs):
        raise NasError(f"metric 'peak_mb[{device}]': peak memory has no quantiles (it is not noisy)")
    return sorted(out)


def peak_needed(metrics: Sequence[str], device: str) -> bool:
    """Whether ``metrics`` name ``peak_mb[device]``."""
    return any(h is not None and h.base == "peak_mb" and h.device == device for h in map(parse, metrics))


def latency_values(
    predictor,
    archs: Sequence[ArchConfig],
    device: str,
    quantiles: Sequence[float] = (),
    *,
    peak: bool = False,
) -> dict[str, np.ndarray]:
    """``{latency_ms[dev]: means, latency_ms[dev].qNN: bounds, ..., peak_mb[dev]}`` of ``archs``."""
    mean = np.asarray(predictor.predict(list(archs)), np.float64).reshape(-1)
    out = {metric_name("latency_ms", device): mean}
    if peak:
        out[metric_name("peak_mb", device)] = np.asarray(predictor.predict_peak_mb(list(archs)), np.float64)
    for q in quantiles:
        out[metric_name("latency_ms", device, q)] = np.asarray(
            predictor.predict_quantile(list(archs), q), np.float64
        ).reshape(-1)
    return out


def fill_latency(space: SearchSpace, archs: Sequence[ArchConfig], metric: str) -> np.ndarray:
    """Values of one latency metric (mean or bound) for ``archs``, from the device's predictor."""
    import predictors

    h = parse(metric)
    if h is None:
        raise NasError(f"metric {metric!r} is not a latency metric")
    p = predictors.load_for(h.device, space)
    qs = [h.q] if h.q is not None else []
    return latency_values(p, archs, h.device, qs, peak=h.base == "peak_mb")[metric]
