"""Checked model inputs, shared by every model (the models' package imports them, not the reverse)."""

from __future__ import annotations

import numpy as np

from search_spaces import NasError


def check_xy(X: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise NasError(f"field 'X': expected a finite 2-D feature matrix, got shape {X.shape}")
    if y is not None:
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (X.shape[0],) or not np.isfinite(y).all() or (y <= 0).any():
            raise NasError(f"field 'y': expected {X.shape[0]} positive finite latencies, got shape {y.shape}")
    return X, y


def log_inputs(X: np.ndarray) -> np.ndarray:
    """sign(x) log1p(|x|): features spanning decades become comparable inputs."""
    return np.sign(X) * np.log1p(np.abs(X))
