"""Fitted predictors as data, per device: ``<root>/<device>/<space>.json`` + ``.npz``.

The JSON holds the format version, the device fingerprint, the space, the
feature definition, the model name, a hash of the training data, the held-out
metrics and the sha256 of the npz of model arrays; the npz is loaded with
``allow_pickle=False``.  The npz also holds the conformal calibration scores
(``conformal.scores``, :mod:`predictors.intervals`) behind the intervals.  A
predictor fitted on another tool's CSV is a device too: ``<device>/csv-table.json``
names its feature columns and the CSV's sha256 instead of a space
(:class:`TablePart`).  Roots: the user's (``$NAS_PREDICTORS`` or
``~/.nas/predictors``, searched first) and the ones shipped in
``predictors/data/``.

Since format 3 the JSON also records a sha256 per npz array (``arrays``,
:mod:`search_spaces.integrity`), so an array that went missing, changed or appeared is
named even when someone updated ``npz_sha256`` to match.  Files of formats 1 and 2
(the shipped ones among them) load with the whole-file ``npz_sha256`` alone.  The
fields are those of ``predictors/schemas/predictor.schema.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from predictors import features as feats
from predictors import intervals, models
from predictors.table_columns import Columns, encode
from search_spaces import ArchBatch, ArchConfig, NasError, SearchSpace, load_space, space_from_dict, to_batch
from search_spaces.integrity import array_manifest, verify_arrays
from search_spaces.schema import validate

FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # 1: no calibration scores (no intervals); 1-2: no array manifest
TABLE = "csv-table"
CONFORMAL = "conformal.scores"
PEAK = "peak."  # npz prefix of the peak-memory model's arrays
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
    residuals: np.ndarray | None = None  # sorted conformal scores; None: fitted before intervals
    peak: dict[str, np.ndarray] | None = None  # the peak-memory model (meta["peak_mb"]["model"])

    def features(self, batch: ArchBatch) -> np.ndarray:
        fd = self.meta["features"]
        return feats.features(self.space, batch, batch_size=fd["batch_size"], seq_len=fd["seq_len"])

    def predict_batch(self, batch: ArchBatch) -> tuple[np.ndarray, np.ndarray]:
        return predict_matrix(self, self.features(batch))

    def predict_peak_batch(self, batch: ArchBatch) -> np.ndarray:
        """Predicted peak memory (MiB) of the compiled forward (XLA's memory analysis)."""
        if not self.peak:
            raise NasError(
                f"field 'peak_mb': the predictor of {self.space.name!r} was fitted on measurements "
                "without peak memory; measure with the jax backend and fit again"
            )
        return models.get(self.meta["peak_mb"]["model"]).predict(self.peak, self.features(batch))[0]


@dataclass(frozen=True)
class TablePart:
    """A model on another tool's feature columns (``nas latency fit --csv``)."""

    columns: tuple[str, ...]
    model: str
    params: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    residuals: np.ndarray | None = None

    @property
    def table_columns(self) -> Columns:
        """The columns and the categories of categorical ones (:mod:`predictors.table_columns`)."""
        return Columns(self.columns, {k: tuple(v) for k, v in (self.meta.get("categories") or {}).items()})

    def predict_rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of an encoded matrix, one column per name of ``table_columns.expanded()``
        (for a table of numeric columns only: the columns themselves)."""
        X = np.asarray(X, np.float64)
        names = self.table_columns.expanded()
        if X.ndim != 2 or X.shape[1] != len(names):
            raise NasError(f"field 'rows': expected {len(names)} columns {names}")
        return predict_matrix(self, X)

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of rows given as ``{column: value}`` (a category by its name)."""
        return self.predict_rows(encode(self.table_columns, records, where="field 'rows'"))


def predict_matrix(part: SpacePredictor | TablePart, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of a feature matrix: the std is the calibrated one when the part has scores."""
    mean, std = models.get(part.model).predict(part.params, X)
    if part.residuals is not None and len(part.residuals):
        std = intervals.calibrated_std(mean, part.residuals)
    return mean, std


def bounds(
    part: SpacePredictor | TablePart, mean: np.ndarray, *, level: float | None = None, q: float | None = None
):
    """The ``level`` central interval (lo, hi) or the ``q`` upper bound of predictions ``mean``."""
    if part.residuals is None or not len(part.residuals):
        name = getattr(part, "space", None)
        raise NasError(
            f"field 'quantile': the predictor {getattr(name, 'name', TABLE)!r} was fitted without "
            "calibration scores; refit it with 'nas latency fit' to get intervals"
        )
    if q is not None:
        return intervals.upper(mean, part.residuals, q)
    return intervals.interval(mean, part.residuals, 0.9 if level is None else level)


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


def save(
    root: str | Path,
    device: str,
    part: SpacePredictor | TablePart,
    *,
    overwrite: bool = True,
) -> Path:
    """Writes ``<root>/<device>/<space>.json`` and ``.npz`` (npz first, then the JSON atomically);
    a :class:`TablePart` goes to ``<device>/csv-table.json``."""
    if not device or "/" in device or device.startswith("."):
        raise NasError(f"field 'device': {device!r} is not a valid device name")
    d = Path(root) / device
    d.mkdir(parents=True, exist_ok=True)
    table = isinstance(part, TablePart)
    stem = d / (TABLE if table else part.space.name)
    js = stem.with_suffix(".json")
    if js.exists() and not overwrite:
        raise NasError(f"field 'device': {js} exists; pass --overwrite to replace it")
    tmp = stem.with_suffix(".npz.tmp")
    arrays = {k: np.asarray(v) for k, v in part.params.items()}
    for k, v in (getattr(part, "peak", None) or {}).items():
        arrays[f"{PEAK}{k}"] = np.asarray(v)
    if part.residuals is not None:
        arrays[CONFORMAL] = np.asarray(part.residuals, np.float64)
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    npz_bytes = tmp.read_bytes()
    meta = dict(part.meta)
    meta.update(
        format_version=FORMAT_VERSION,
        device=device,
        model=part.model,
        npz_sha256=hashlib.sha256(npz_bytes).hexdigest(),
        arrays=array_manifest(arrays),
    )
    if table:
        meta.update(kind="table", columns=list(part.columns))
    else:
        meta.update(space=part.space.to_dict())
    os.replace(tmp, stem.with_suffix(".npz"))
    tmpj = stem.with_suffix(".json.tmp")
    tmpj.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmpj, js)
    return js


def load_part(path: str | Path) -> SpacePredictor | TablePart:
    """One ``<space>.json`` (+ its npz) back, checking version, hash and feature definition."""
    js = Path(path)
    try:
        meta = json.loads(js.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise NasError(f"predictor file '{js}': unreadable or corrupted ({e})") from None
    if not isinstance(meta, dict):
        raise NasError(f"predictor file '{js}': corrupted (not a JSON object)")
    ver = meta.get("format_version")
    if ver not in READABLE_VERSIONS:
        raise NasError(
            f"predictor file '{js}': format_version {ver!r}, this version reads {list(READABLE_VERSIONS)}"
        )
    validate(meta, "predictors", "predictor", where=f"predictor file '{js}'")  # schemas/predictor.schema.json
    npz = js.with_suffix(".npz")
    try:
        raw = npz.read_bytes()
    except OSError as e:
        raise NasError(f"predictor file '{npz}': missing ({e.strerror})") from None
    if hashlib.sha256(raw).hexdigest() != meta.get("npz_sha256"):
        raise NasError(f"predictor file '{npz}': corrupted (sha256 does not match {js.name})")
    try:
        with np.load(npz, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise NasError(f"predictor file '{npz}': unreadable npz ({e})") from None
    if ver >= 3:
        verify_arrays(params, meta["arrays"], where=f"predictor file '{npz}'")
    res = params.pop(CONFORMAL, None)
    if res is not None and (res.ndim != 1 or not np.isfinite(res).all()):
        raise NasError(f"predictor file '{npz}': array {CONFORMAL!r} must be finite and 1-D")
    bad = [k for k, v in params.items() if v.dtype.kind == "f" and v.size and not np.isfinite(v).any()]
    if bad:
        raise NasError(f"predictor file '{npz}': array {bad[0]!r} is all NaN/inf")
    bad = [k for k, v in params.items() if v.dtype.kind == "f" and np.isnan(v).any()]  # inf: a tree's leaf
    if bad:
        where = np.argwhere(np.isnan(params[bad[0]]))[0].tolist()
        raise NasError(f"predictor file '{npz}': array {bad[0]!r} holds NaN (at index {where})")
    if meta.get("kind") == "table":
        cols = meta.get("columns")
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
            raise NasError(
                f"predictor file '{js}': field 'columns' must be a non-empty list of names, got {cols!r}"
            )
        try:
            models.get(meta["model"])
        except KeyError as e:
            raise NasError(f"predictor file '{js}': corrupted (missing {e})") from None
        columns = Columns.from_meta(meta, source=str(js))
        _dry_run(npz, meta["model"], params, len(columns.expanded()))
        return TablePart(columns=tuple(cols), model=meta["model"], params=params, meta=meta, residuals=res)
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
    peak = {k[len(PEAK) :]: v for k, v in params.items() if k.startswith(PEAK)}
    params = {k: v for k, v in params.items() if not k.startswith(PEAK)}
    if peak and "model" not in (meta.get("peak_mb") or {}):
        raise NasError(
            f"predictor file '{js}': npz has a peak-memory model but field 'peak_mb.model' is missing"
        )
    _dry_run(npz, meta["model"], params, len(fd["names"]))
    if peak:
        _dry_run(npz, meta["peak_mb"]["model"], peak, len(fd["names"]), prefix=PEAK)
    return SpacePredictor(
        space=space, model=meta["model"], params=params, meta=meta, residuals=res, peak=peak or None
    )


def _dry_run(npz: Path, model: str, params: dict[str, np.ndarray], n_features: int, prefix: str = "") -> None:
    """One prediction on a row of zeros: arrays that do not fit the model (one dropped or
    reshaped in a file of format 1-2, which has no array manifest) are one line, not a
    traceback at the first query."""
    try:
        with np.errstate(all="ignore"):
            models.get(model).predict(params, np.zeros((1, n_features)))
    except NasError:
        raise
    except (KeyError, ValueError, IndexError, TypeError) as e:
        why = (
            f"array '{prefix}{e.args[0]}' is missing"
            if isinstance(e, KeyError)
            else f"{type(e).__name__}: {e}"
        )
        raise NasError(
            f"predictor file '{npz}': its arrays do not fit model {model!r} ({why.splitlines()[0][:120]})"
        ) from None


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
