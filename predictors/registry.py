"""Fitted predictors as data, per device: ``<root>/<device>/<space>.json`` + ``.npz``.

The JSON holds the format version, the device fingerprint, the space, the
feature definition, the model name, a hash of the training data, the held-out
metrics and the sha256 of the npz of model arrays; the npz is loaded with
``allow_pickle=False``.  Roots: the user's (``$NAS_PREDICTORS`` or
``~/.nas/predictors``, searched first) and the ones shipped in
``predictors/data/``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from predictors import features as feats
from predictors import models
from search_spaces import ArchBatch, ArchConfig, NasError, SearchSpace, load_space, space_from_dict, to_batch

FORMAT_VERSION = 1
SHIPPED = Path(__file__).resolve().parent / "data"


def user_root() -> Path:
    return Path(os.environ.get("NAS_PREDICTORS", Path.home() / ".nas" / "predictors"))


def roots() -> list[Path]:
    return [user_root(), SHIPPED]


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(X, np.float64).tobytes())
    h.update(np.ascontiguousarray(y, np.float64).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class SpacePredictor:
    """One fitted model for one space on one device."""

    space: SearchSpace
    model: str
    params: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def predict_batch(self, batch: ArchBatch) -> tuple[np.ndarray, np.ndarray]:
        fd = self.meta["features"]
        X = feats.features(self.space, batch, batch_size=fd["batch_size"], seq_len=fd["seq_len"])
        return models.get(self.model).predict(self.params, X)


class LatencyPredictor:
    """Latency in milliseconds of architectures on one device (one or several spaces)."""

    def __init__(self, device: str, parts: Sequence[SpacePredictor]):
        self.device = device
        self.parts = {p.space.name: p for p in parts}

    @property
    def space(self) -> SearchSpace | None:
        """The space (when the device has a predictor for exactly one, or one was chosen)."""
        return next(iter(self.parts.values())).space if len(self.parts) == 1 else None

    @property
    def spaces(self) -> list[str]:
        return sorted(self.parts)

    @property
    def meta(self) -> dict[str, Any]:
        return {k: p.meta for k, p in self.parts.items()}

    def _part_for(self, archs: Sequence[ArchConfig]) -> SpacePredictor:
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

    def predict_batch(self, batch: ArchBatch, *, with_uncertainty: bool = False):
        """Latency (ms) of a columnar batch of the predictor's space (no per-arch Python)."""
        if self.space is None:
            raise NasError(
                f"field 'space': device '{self.device}' has predictors for {self.spaces}; "
                "load with predictors.load(device, space=NAME) to use predict_batch"
            )
        mean, std = self.parts[self.space.name].predict_batch(batch)
        return (mean, std) if with_uncertainty else mean


def save(
    root: str | Path,
    device: str,
    part: SpacePredictor,
    *,
    overwrite: bool = True,
) -> Path:
    """Writes ``<root>/<device>/<space>.json`` and ``.npz`` (npz first, then the JSON atomically)."""
    if not device or "/" in device or device.startswith("."):
        raise NasError(f"field 'device': {device!r} is not a valid device name")
    d = Path(root) / device
    d.mkdir(parents=True, exist_ok=True)
    stem = d / part.space.name
    js = stem.with_suffix(".json")
    if js.exists() and not overwrite:
        raise NasError(f"field 'device': {js} exists; pass --overwrite to replace it")
    tmp = stem.with_suffix(".npz.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in part.params.items()})
    npz_bytes = tmp.read_bytes()
    meta = dict(part.meta)
    meta.update(
        format_version=FORMAT_VERSION,
        device=device,
        model=part.model,
        space=part.space.to_dict(),
        npz_sha256=hashlib.sha256(npz_bytes).hexdigest(),
    )
    os.replace(tmp, stem.with_suffix(".npz"))
    tmpj = stem.with_suffix(".json.tmp")
    tmpj.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmpj, js)
    return js


def load_part(path: str | Path) -> SpacePredictor:
    """One ``<space>.json`` (+ its npz) back, checking version, hash and feature definition."""
    js = Path(path)
    try:
        meta = json.loads(js.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise NasError(f"predictor file '{js}': unreadable or corrupted ({e})") from None
    if not isinstance(meta, dict):
        raise NasError(f"predictor file '{js}': corrupted (not a JSON object)")
    ver = meta.get("format_version")
    if ver != FORMAT_VERSION:
        raise NasError(f"predictor file '{js}': format_version {ver!r}, this version reads {FORMAT_VERSION}")
    npz = js.with_suffix(".npz")
    try:
        raw = npz.read_bytes()
    except OSError as e:
        raise NasError(f"predictor file '{npz}': missing ({e.strerror})") from None
    if hashlib.sha256(raw).hexdigest() != meta.get("npz_sha256"):
        raise NasError(f"predictor file '{npz}': corrupted (sha256 does not match {js.name})")
    with np.load(npz, allow_pickle=False) as z:
        params = {k: z[k] for k in z.files}
    try:
        space = space_from_dict(meta["space"], source=str(js))
        models.get(meta["model"])
    except (KeyError, TypeError) as e:
        raise NasError(f"predictor file '{js}': corrupted (missing {e})") from None
    fd = meta.get("features", {})
    if fd.get("version") != feats.FEATURE_VERSION or fd.get("names") != feats.feature_names(space):
        raise NasError(
            f"predictor file '{js}': feature definition version {fd.get('version')!r} does not match "
            f"this version's {feats.FEATURE_VERSION}; refit it with 'nas latency fit'"
        )
    return SpacePredictor(space=space, model=meta["model"], params=params, meta=meta)


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


def load(device: str, *, space: str | SearchSpace | None = None) -> LatencyPredictor:
    """The fitted predictor of ``device`` (optionally for one ``space``)."""
    dirs = _device_dirs()
    if device not in dirs:
        raise NasError(f"field 'device': unknown device {device!r}; known devices: {sorted(dirs)}")
    parts = [load_part(p) for p in sorted(dirs[device].glob("*.json"))]
    if space is not None:
        name = space.name if isinstance(space, SearchSpace) else load_space(space).name
        parts = [p for p in parts if p.space.name == name]
        if not parts:
            have = sorted(p.stem for p in dirs[device].glob("*.json"))
            raise NasError(f"field 'space': device {device!r} has no predictor for {name!r}; it has {have}")
    return LatencyPredictor(device, parts)


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
