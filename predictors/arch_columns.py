"""An architecture as a row of another tool's table, so a CSV-fitted device scores a search.

A device fitted on another tool's CSV (``nas latency fit --csv``) predicts rows of
that tool's columns (HAT's ``decoder_layer_num``, ``decoder_ffn_embed_dim_avg``,
...).  To score a search's candidates with it, the latency evaluator maps every
column to an expression over the architecture (``columns:`` in the search config):

* a global dimension by name: ``embed_dim``, ``depth``;
* an aggregate of a per-layer dimension: ``mean(mlp_dim)``, ``sum(...)``,
  ``min(...)``, ``max(...)``, or ``count(attn_type=softmax)`` (layers with that value);
* a constant: a number, or a quoted name (``'xeon'``) for a column of names.

The expressions are checked against the space and the predictor's columns before
the search starts; every error names the column and the expression.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from predictors import intervals
from predictors.parts import TablePart, bounds, predict_matrix
from search_spaces import ArchBatch, ArchConfig, NasError, SearchSpace, to_batch

AGGREGATES = ("mean", "sum", "min", "max")
_CALL = re.compile(r"^(\w+)\(\s*(\w+)\s*(?:=\s*(.+?)\s*)?\)$")


class Expr(NamedTuple):
    """``op`` is ``dim``, an aggregate, ``count`` or ``const``."""

    op: str
    dim: str | None = None
    value: Any = None


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return float(text)
    except ValueError:
        return text


def parse(expr: Any, space: SearchSpace, *, column: str) -> Expr:
    """One column's expression, checked against ``space``'s dimensions."""
    where = f"field 'columns.{column}'"
    if isinstance(expr, bool) or not isinstance(expr, (int, float, str)):
        raise NasError(f"{where}: expected a dimension, an aggregate or a constant, got {expr!r}")
    if not isinstance(expr, str):
        return Expr("const", value=float(expr))
    text = expr.strip()
    per_layer = {d.name for d in space.dimensions() if d.per_layer}
    known = {"depth"} | {d.name for d in space.dimensions()}
    m = _CALL.match(text)
    if m:
        op, dim, arg = m.groups()
        if dim not in per_layer:
            raise NasError(f"{where}: {text!r}: {dim!r} is not a per-layer dimension of {sorted(per_layer)}")
        choices = next(d.choices for d in space.dimensions() if d.name == dim)
        if op == "count":
            if arg is None:
                raise NasError(f"{where}: {text!r}: write count({dim}=VALUE)")
            v = _literal(arg)
            hits = [i for i, c in enumerate(choices) if c == v or str(c) == str(v).removesuffix(".0")]
            if not hits:
                raise NasError(f"{where}: {text!r}: {v!r} is not a choice of {dim!r} {list(choices)}")
            return Expr("count", dim, hits[0])
        if op not in AGGREGATES or arg is not None:
            raise NasError(
                f"{where}: {text!r}: use one of {[f'{a}({dim})' for a in AGGREGATES]} or count({dim}=V)"
            )
        if any(not isinstance(c, (int, float)) or isinstance(c, bool) for c in choices):
            raise NasError(f"{where}: {text!r}: {dim!r} is not numeric; count its values: count({dim}=V)")
        return Expr(op, dim)
    lit = _literal(text)
    if text in per_layer:
        raise NasError(
            f"{where}: {text!r} is per-layer: use mean({text}), sum({text}), max({text}) or count(...)"
        )
    if text in known:
        return Expr("dim", text)
    if isinstance(lit, float) or text[:1] in "'\"":
        return Expr("const", value=lit)
    raise NasError(
        f"{where}: {text!r} is not a dimension of space '{space.name}' {sorted(known)}; quote a name"
    )


def column(e: Expr, batch: ArchBatch, space: SearchSpace) -> np.ndarray:
    """The expression's value for every architecture of ``batch`` (float, or names)."""
    n = len(batch)
    if e.op == "const":
        return np.full(n, e.value, dtype=object if isinstance(e.value, str) else np.float64)
    if e.op == "dim":
        if e.dim == "depth":
            return batch.depth.astype(np.float64)
        if e.dim in batch.values:
            return batch.values[e.dim]
        return np.asarray(space.dimension(e.dim).choices, dtype=object)[batch.codes[e.dim]]
    if e.op == "count":
        return ((batch.codes[e.dim] == e.value) & batch.active).sum(1).astype(np.float64)
    v, on = batch.values[e.dim], batch.active
    if e.op == "sum":
        return v.sum(1)
    if e.op == "mean":
        return v.sum(1) / np.maximum(batch.depth, 1)
    fill = -np.inf if e.op == "max" else np.inf
    return getattr(np.where(on, v, fill), e.op)(1)


class ColumnsPredictor(NamedTuple):
    """A CSV-fitted device seen as a predictor of architectures (the API searches use)."""

    device: str
    table: TablePart
    exprs: dict[str, Expr]
    space: SearchSpace

    def columns(self, archs: Sequence[ArchConfig]) -> dict[str, np.ndarray]:
        """Each of the device's columns for ``archs`` (columnar: 100k archs in milliseconds)."""
        batch = to_batch(self.space, list(archs))
        return {c: column(e, batch, self.space) for c, e in self.exprs.items()}

    def rows(self, archs: Sequence[ArchConfig]) -> list[dict[str, Any]]:
        cols = self.columns(archs)
        return [
            {c: v[i].item() if hasattr(v[i], "item") else v[i] for c, v in cols.items()}
            for i in range(len(archs))
        ]

    def _matrix(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        spec, cols = self.table.table_columns, self.columns(archs)
        parts = []
        for c in spec.names:
            if c not in spec.categories:
                if cols[c].dtype == object:
                    raise NasError(f"field 'columns.{c}': {cols[c][0]!r} is not a number")
                parts.append(cols[c][:, None].astype(np.float64))
                continue
            names = np.asarray(cols[c], dtype=str)
            bad = sorted(set(names) - set(spec.categories[c]))
            if bad:
                raise NasError(
                    f"field 'columns.{c}': {bad[0]!r} was not in the fitted data {list(spec.categories[c])}"
                )
            parts.append((names[:, None] == np.asarray(spec.categories[c])[None, :]).astype(np.float64))
        return np.concatenate(parts, axis=1)

    def predict(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        return predict_matrix(self.table, self._matrix(archs))[0]

    def predict_with_uncertainty(self, archs: Sequence[ArchConfig]) -> tuple[np.ndarray, np.ndarray]:
        return predict_matrix(self.table, self._matrix(archs))

    def predict_quantile(self, archs: Sequence[ArchConfig], q: float) -> np.ndarray:
        return bounds(self.table, self.predict(archs), q=q)

    def predict_interval(self, archs: Sequence[ArchConfig], *, level: float = 0.9):
        mean = self.predict(archs)
        return (mean, *intervals.interval(mean, self.table.residuals, level))

    def predict_peak_mb(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        raise NasError(f"metric 'peak_mb[{self.device}]': a CSV-fitted device predicts latency only")


def columns_predictor(device: str, predictor: Any, mapping: Any, space: SearchSpace) -> ColumnsPredictor:
    """The CSV-fitted ``predictor`` (a :class:`predictors.registry.LatencyPredictor` with a
    table) with every one of its columns mapped by ``mapping`` (column -> expression)."""
    table = predictor.table
    if table is None:
        raise NasError(f"field 'columns': device {device!r} predicts architectures; 'columns' maps a CSV's")
    if not isinstance(mapping, Mapping) or not mapping:
        raise NasError(
            f"field 'columns': expected a mapping of the device's columns to expressions, got {mapping!r}"
        )
    unknown = sorted(set(mapping) - set(table.columns))
    missing = [c for c in table.columns if c not in mapping]
    if unknown or missing:
        raise NasError(
            f"field 'columns': device '{device}' has columns {list(table.columns)}"
            + (f"; not among them: {unknown}" if unknown else "")
            + (f"; not mapped: {missing}" if missing else "")
        )
    exprs = {c: parse(mapping[c], space, column=c) for c in table.columns}
    pred = ColumnsPredictor(device, table, exprs, space)
    pred.predict([space.smallest(), space.largest()])  # a bad constant name fails here, not mid-search
    return pred
