"""Fitted latency predictors per device: the roots that hold them, a device's parts
loaded together as one :class:`LatencyPredictor`, and the devices there are.

Roots: the user's (``$NAS_PREDICTORS`` or ``~/.nas/predictors``, searched first) and
the ones shipped in ``predictors/data/``.  Each device is a folder of parts
(:mod:`predictors.parts`), one ``<space>.json`` + ``.npz`` each; the file format and its
checks are :mod:`predictors.part_files`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from predictors.part_files import FORMAT_VERSION as FORMAT_VERSION
from predictors.part_files import load_part
from predictors.part_files import save as save
from predictors.parts import TABLE, SpacePredictor, TablePart, bounds
from search_spaces import ArchBatch, ArchConfig, NasError, SearchSpace, load_space, to_batch

SHIPPED = Path(__file__).resolve().parent / "data"


def user_root() -> Path:
    return Path(os.environ.get("NAS_PREDICTORS", Path.home() / ".nas" / "predictors"))


def roots() -> list[Path]:
    return [user_root(), SHIPPED]


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(X, np.float64).tobytes())
    h.update(np.ascontiguousarray(y, np.float64).tobytes())
    return h.hexdigest()


class LatencyPredictor:
    """Latency in milliseconds of architectures on one device (one or several spaces)."""

    def __init__(self, device: str, parts: Sequence[SpacePredictor], *, table: TablePart | None = None):
        self.device = device
        self.parts = {p.space.name: p for p in parts}
        self.table = table

    @property
    def space(self) -> SearchSpace | None:
        """The space (when the device has a predictor for exactly one, or one was chosen)."""
        return next(iter(self.parts.values())).space if len(self.parts) == 1 else None

    @property
    def spaces(self) -> list[str]:
        return sorted(self.parts)

    @property
    def meta(self) -> dict[str, Any]:
        out = {k: p.meta for k, p in self.parts.items()}
        if self.table is not None:
            out[TABLE] = self.table.meta
        return out

    def _part_for(self, archs: Sequence[ArchConfig]) -> SpacePredictor:
        if not self.parts:
            raise NasError(
                f"field 'device': {self.device!r} is a predictor of CSV columns {list(self.table.columns)}, "
                "not of architectures; query it with --csv FILE or --row k=v,..."
            )
        fits = [p for p in self.parts.values() if all(p.space.contains(a) for a in archs)]
        if len(fits) == 1:
            return fits[0]
        if not fits:
            bad = next(a for a in archs if not any(p.space.contains(a) for p in self.parts.values()))
            if len(self.parts) == 1:
                self.space.validate(bad)  # names the field, the value and the allowed choices
            raise NasError(
                f"field 'arch': {bad.to_json()} is outside the spaces of device '{self.device}' {self.spaces}"
            )
        raise NasError(
            f"field 'space': the architectures fit several spaces of device '{self.device}' "
            f"{sorted(p.space.name for p in fits)}; load with predictors.load(device, space=NAME)"
        )

    def predict_with_uncertainty(self, archs: Sequence[ArchConfig]) -> tuple[np.ndarray, np.ndarray]:
        """(mean_ms, std_ms), each of shape (n,)."""
        archs = [archs] if isinstance(archs, ArchConfig) else list(archs)
        if not archs:
            return np.zeros(0), np.zeros(0)
        part = self._part_for(archs)
        return part.predict_batch(to_batch(part.space, archs))

    def predict(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """Latency in ms, shape (n,)."""
        return self.predict_with_uncertainty(archs)[0]

    def predict_interval(
        self, archs: Sequence[ArchConfig], *, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) in ms: the central ``level`` interval calibrated on unseen
        architectures (conformal, :mod:`predictors.intervals`)."""
        archs = [archs] if isinstance(archs, ArchConfig) else list(archs)
        if not archs:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        part = self._part_for(archs)
        mean = part.predict_batch(to_batch(part.space, archs))[0]
        return (mean, *bounds(part, mean, level=level))

    def predict_peak_mb(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """Predicted peak memory (MiB) of each architecture's compiled forward on the device."""
        archs = [archs] if isinstance(archs, ArchConfig) else list(archs)
        if not archs:
            return np.zeros(0)
        part = self._part_for(archs)
        return part.predict_peak_batch(to_batch(part.space, archs))

    def predict_quantile(self, archs: Sequence[ArchConfig], q: float) -> np.ndarray:
        """The calibrated ``q`` upper bound (ms) of each architecture's latency."""
        archs = [archs] if isinstance(archs, ArchConfig) else list(archs)
        if not archs:
            return np.zeros(0)
        part = self._part_for(archs)
        return bounds(part, part.predict_batch(to_batch(part.space, archs))[0], q=q)

    def predict_batch(self, batch: ArchBatch, *, with_uncertainty: bool = False, q: float | None = None):
        """Latency (ms) of a columnar batch of the predictor's space (no per-arch Python);
        with ``q``, the calibrated ``q`` upper bound instead of the mean."""
        if self.space is None:
            raise NasError(
                f"field 'space': device '{self.device}' has predictors for {self.spaces}; "
                "load with predictors.load(device, space=NAME) to use predict_batch"
            )
        part = self.parts[self.space.name]
        mean, std = part.predict_batch(batch)
        if q is not None:
            return bounds(part, mean, q=q)
        return (mean, std) if with_uncertainty else mean


def _device_dirs() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for r in reversed(roots()):  # user root last so it wins
        if r.is_dir():
            for d in sorted(r.iterdir()):
                if d.is_dir() and any(d.glob("*.json")):
                    out[d.name] = d
    return out


def list_devices() -> list[str]:
    """Names of the devices with a fitted predictor (shipped and the user's)."""
    return sorted(_device_dirs())


def verify(device: str) -> list[tuple[Path, SpacePredictor | TablePart]]:
    """Every predictor file of ``device`` read and checked (schema, npz and array checksums,
    feature definition) without predicting anything; a one-line NasError names a damaged one."""
    dirs = _device_dirs()
    if device not in dirs:
        raise NasError(f"field 'device': unknown device {device!r}; known devices: {sorted(dirs)}")
    return [(p, load_part(p)) for p in sorted(dirs[device].glob("*.json"))]


def load(device: str, *, space: str | SearchSpace | None = None) -> LatencyPredictor:
    """The fitted predictor of ``device`` (optionally for one ``space``)."""
    dirs = _device_dirs()
    if device not in dirs:
        raise NasError(f"field 'device': unknown device {device!r}; known devices: {sorted(dirs)}")
    parts = [load_part(p) for p in sorted(dirs[device].glob("*.json"))]
    tables = [p for p in parts if isinstance(p, TablePart)]
    parts = [p for p in parts if not isinstance(p, TablePart)]
    if space is not None:
        name = space.name if isinstance(space, SearchSpace) else load_space(space).name
        parts = [p for p in parts if p.space.name == name]
        if not parts:
            have = sorted(p.stem for p in dirs[device].glob("*.json"))
            raise NasError(f"field 'space': device {device!r} has no predictor for {name!r}; it has {have}")
    return LatencyPredictor(device, parts, table=tables[0] if tables else None)


def load_for(device: str, space: SearchSpace) -> LatencyPredictor:
    """The predictor a search over ``space`` uses: the device's predictor for that space
    when it has one of that name, else all of the device's predictors (each architecture
    then goes to the space that contains it).  An architecture can lie in two built-in
    spaces at once, so a search must not leave the choice to containment."""
    dirs = _device_dirs()
    if device in dirs and (dirs[device] / f"{space.name}.json").is_file():
        return load(device, space=space)
    return load(device)


def reference_times(device: str, space: SearchSpace) -> dict[str, float]:
    """The usual times (ms) of the reference architectures ``device``'s predictor of
    exactly ``space`` was fitted with (:mod:`predictors.drift`); {} if it has none."""
    p = load_for(device, space)
    if p.space is None or p.space.name != space.name:
        return {}
    return {k: float(v) for k, v in (p.parts[space.name].meta.get("references") or {}).items()}
