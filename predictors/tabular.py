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
