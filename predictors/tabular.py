"""Measurements made by other tools: a CSV of feature and target columns, and a fixed split.

The split is the one the HAT latency data's README fixes: a permutation from
``numpy.random.default_rng(seed)``, the first rows train and the last
``test_fraction`` of rows test (seed 0 and 0.1 give 1,800 / 200 of 2,000).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from predictors.table_columns import Columns, encode, infer, numbers, read_csv
from search_spaces import NasError


def load_table(
    path: str | Path, features: Sequence[str] | None, targets: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, Columns]:
    """(X, y, columns): the feature columns (categorical ones one-hot, see
    :mod:`predictors.table_columns`) and the sum of the target columns, as float64.
    ``features=None`` takes every column that is not a target."""
    if not targets:
        raise NasError("field '--target': need at least one column")
    header, rows = read_csv(path)
    if features is None:
        features = [c for c in header if c not in targets]
    if not features:
        raise NasError("field '--features': need at least one column")
    missing = [c for c in [*features, *targets] if c not in header]
    if missing:
        raise NasError(f"file '{path}': missing column(s) {missing}; it has {header}")
    if len(rows) < 4:
        raise NasError(f"file '{path}': need at least 4 rows, got {len(rows)}")
    y = numbers(path, header, rows, targets).sum(1)
    cols = infer(path, header, rows, features)
    X = encode(cols, [dict(zip(header, r, strict=False)) for _, r in rows], where=f"file '{path}'")
    if (y <= 0).any():
        raise NasError(f"file '{path}': target sum {list(targets)} must be positive in every row")
    return X, y, cols


def load_csv(
    path: str | Path, features: Sequence[str], targets: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of :func:`load_table`."""
    if not features:
        raise NasError("fields '--features' and '--target': need at least one column each")
    return load_table(path, features, targets)[:2]


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
    cols: Columns,
    targets: Sequence[str],
    *,
    device: str,
    root: str | Path | None = None,
    seed: int = 0,
    test_fraction: float = 0.1,
) -> Path:
    """Saves a fit of :func:`predictors.fitting.fit_and_score` on a CSV as device ``device``
    (``<root>/<device>/csv-table.json`` + npz): its columns (and categories), the CSV's
    sha256, the scores."""
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
        "categories": dict(cols.to_meta()["categories"]),
    }
    part = TablePart(
        columns=cols.names, model=r["best"], params=r["params"], meta=meta, residuals=r["residuals"]
    )
    return save(Path(root) if root else user_root(), device, part)


def query_rows(
    cols: Columns, *, csv_path: str | Path | None = None, row: str | None = None
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """(rows as dicts, model input matrix) of the predictor's columns ``cols`` from a CSV
    file or one ``k=v,...`` row (a category by its name, a number as a number)."""
    if row is not None:
        vals: dict[str, Any] = {}
        for item in (x.strip() for x in row.split(",") if x.strip()):
            k, eq, v = item.partition("=")
            if not eq:
                raise NasError(f"field '--row': expected COLUMN=VALUE, got {item!r}")
            k, v = k.strip(), v.strip()
            vals[k] = v if k in cols.categories else _number(v, k)
        unknown = sorted(set(vals) - set(cols.names))
        if unknown:
            raise NasError(
                f"field '--row': unknown column {unknown[0]!r}; the predictor's columns are {list(cols.names)}"
            )
        missing = [c for c in cols.names if c not in vals]
        if missing:
            raise NasError(f"field '--row': missing column(s) {missing}")
        records = [{c: vals[c] for c in cols.names}]
        return records, encode(cols, records, where="field '--row'")
    header, rows = read_csv(csv_path)
    if not rows:
        raise NasError(f"file '{csv_path}': no rows after the header")
    missing = [c for c in cols.names if c not in header]
    if missing:
        raise NasError(f"file '{csv_path}': missing column(s) {missing}; it has {header}")
    records, X = [], []
    for n, r in rows:
        rec = dict(zip(header, r, strict=False))
        X.append(encode(cols, [rec], where=f"file '{csv_path}' line {n}")[0])
        records.append({c: rec[c] if c in cols.categories else float(rec[c]) for c in cols.names})
    return records, np.array(X)


def _number(v: str, column: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise NasError(f"field '--row': column {column!r} value {v!r} is not a number") from None
    if not np.isfinite(x):
        raise NasError(f"field '--row': column {column!r} value {v!r} is not finite")
    return x
