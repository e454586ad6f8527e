"""A fitted predictor part as files: ``<root>/<device>/<space>.json`` + ``.npz``.

The JSON holds the format version, the device fingerprint, the space, the
feature definition, the model name, a hash of the training data, the held-out
metrics and the sha256 of the npz of model arrays; the npz is loaded with
``allow_pickle=False``.  The npz also holds the conformal calibration scores
(``conformal.scores``, :mod:`predictors.intervals`) behind the intervals.  A
predictor fitted on another tool's CSV is a device too: ``<device>/csv-table.json``
names its feature columns and the CSV's sha256 instead of a space
(:class:`TablePart`).  The roots that hold them and a device's parts together:
:mod:`predictors.registry`.

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
from pathlib import Path

import numpy as np

from predictors import features as feats
from predictors import models
from predictors.parts import TABLE, SpacePredictor, TablePart
from predictors.table_columns import Columns
from search_spaces import NasError, space_from_dict
from search_spaces.integrity import array_manifest, verify_arrays
from search_spaces.schema import validate

FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # 1: no calibration scores (no intervals); 1-2: no array manifest
CONFORMAL = "conformal.scores"
PEAK = "peak."  # npz prefix of the peak-memory model's arrays


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
