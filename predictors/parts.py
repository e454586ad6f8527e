"""The fitted parts of a device's latency predictor: a model for one search space
(:class:`SpacePredictor`) or for another tool's feature columns (:class:`TablePart`),
and the (mean, std) and calibrated intervals of their predictions.  Files of them:
:mod:`predictors.part_files`; a device's parts together: :mod:`predictors.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from predictors import features as feats
from predictors import intervals, models
from predictors.table_columns import Columns, encode
from search_spaces import ArchBatch, NasError, SearchSpace

TABLE = "csv-table"  # the file stem and meta key of a device's TablePart


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
