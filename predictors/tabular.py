"""Measurements made by other tools: a CSV of feature and target columns, and a fixed split.

The split is the one the HAT latency data's README fixes: a permutation from
``numpy.random.default_rng(seed)``, the first rows train and the last
``test_fraction`` of rows test (seed 0 and 0.1 give 1,800 / 200 of 2,000).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from search_spaces import NasError


def load_csv(
    path: str | Path, features: Sequence[str], targets: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): the feature columns and the sum of the target columns, as float64."""
    path = Path(path)
    if not path.is_file():
        raise NasError(f"field '--csv': no file {str(path)!r}")
    if not features or not targets:
        raise NasError("fields '--features' and '--target': need at least one column each")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise NasError(f"file '{path}': empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in [*features, *targets] if c not in header]
    if missing:
        raise NasError(f"file '{path}': missing column(s) {missing}; it has {header}")
    cols = {c: header.index(c) for c in [*features, *targets]}
    data = np.empty((len(rows) - 1, len(cols)))
    for i, row in enumerate(rows[1:]):
        for j, (c, k) in enumerate(cols.items()):
            try:
                data[i, j] = float(row[k])
            except (ValueError, IndexError):
                val = row[k] if k < len(row) else "<missing>"
                raise NasError(f"file '{path}': column '{c}' row {i + 2} is not a number: {val!r}") from None
    if not np.isfinite(data).all():
        raise NasError(f"file '{path}': non-finite values in columns {list(cols)}")
    if len(data) < 4:
        raise NasError(f"file '{path}': need at least 4 rows, got {len(data)}")
    X = data[:, : len(features)]
    y = data[:, len(features) :].sum(1)
    if (y <= 0).any():
        raise NasError(f"file '{path}': target sum {list(targets)} must be positive in every row")
    return X, y


def split(n: int, *, seed: int = 0, test_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): first rows of a seeded permutation train, the last ones test."""
    if not 0 < test_fraction < 1:
        raise NasError(f"field 'test_fraction': must be in (0, 1), got {test_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return perm[: n - n_test], perm[n - n_test :]


def file_sha256(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_table(
    r: dict,
    csv_path: str | Path,
    features: Sequence[str],
    targets: Sequence[str],
    *,
    device: str,
    root: str | Path | None = None,
    seed: int = 0,
    test_fraction: float = 0.1,
) -> Path:
    """Saves a fit of :func:`predictors.fitting.fit_and_score` on a CSV as device ``device``
    (``<root>/<device>/csv-table.json`` + npz): its columns, the CSV's sha256, the scores."""
    from predictors.intervals import interval_meta
    from predictors.registry import TablePart, save, user_root

    meta = {
        "csv": str(Path(csv_path).name),
        "csv_sha256": file_sha256(csv_path),
        "targets": list(targets),
        "metrics": r["scores"][r["best"]],
        "candidates": r["scores"],
        "cv": r["cv"],
        "refit_on_all_rows": r["refit"],
        "n_rows": int(len(r["train_idx"]) + len(r["test_idx"])),
        "split": {"seed": seed, "test_fraction": test_fraction},
        "interval": interval_meta(r),
    }
    part = TablePart(
        columns=tuple(features), model=r["best"], params=r["params"], meta=meta, residuals=r["residuals"]
    )
    return save(Path(root) if root else user_root(), device, part)


def query_rows(
    columns: Sequence[str], *, csv_path: str | Path | None = None, row: str | None = None
) -> tuple[list[dict[str, float]], np.ndarray]:
    """(rows as dicts, matrix) of the ``columns`` from a CSV file or one ``k=v,...`` row."""
    if row is not None:
        vals: dict[str, float] = {}
        for item in (x.strip() for x in row.split(",") if x.strip()):
            k, eq, v = item.partition("=")
            if not eq:
                raise NasError(f"field '--row': expected COLUMN=VALUE, got {item!r}")
            try:
                vals[k.strip()] = float(v)
            except ValueError:
                raise NasError(f"field '--row': column {k.strip()!r} value {v!r} is not a number") from None
        unknown = sorted(set(vals) - set(columns))
        if unknown:
            raise NasError(
                f"field '--row': unknown column {unknown[0]!r}; the predictor's columns are {list(columns)}"
            )
        missing = [c for c in columns if c not in vals]
        if missing:
            raise NasError(f"field '--row': missing column(s) {missing}")
        if not all(np.isfinite(list(vals.values()))):
            raise NasError(f"field '--row': non-finite value in {row!r}")
        return [{c: vals[c] for c in columns}], np.array([[vals[c] for c in columns]])
    path = Path(csv_path)
    if not path.is_file():
        raise NasError(f"field '--csv': no file {str(path)!r}")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise NasError(f"file '{path}': no rows after the header")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise NasError(f"file '{path}': missing column(s) {missing}; it has {header}")
    idx = [header.index(c) for c in columns]
    X = np.empty((len(rows) - 1, len(columns)))
    for i, r in enumerate(rows[1:]):
        for j, k in enumerate(idx):
            try:
                X[i, j] = float(r[k])
            except (ValueError, IndexError):
                val = r[k] if k < len(r) else "<missing>"
                raise NasError(
                    f"file '{path}': column '{columns[j]}' row {i + 2} is not a number: {val!r}"
                ) from None
    if not np.isfinite(X).all():
        raise NasError(f"file '{path}': non-finite values in columns {list(columns)}")
    return [dict(zip(columns, map(float, x), strict=True)) for x in X], X
