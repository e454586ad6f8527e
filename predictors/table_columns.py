"""The feature columns of another tool's CSV: numbers as they are, categories one-hot.

Measurement tables from other tools mix numbers (widths, MACs, sequence length)
with names (``precision: fp16``, ``op: conv``, ``attn_type: softmax``).  A column
all of whose cells are numbers is numeric; a column none of whose cells is a
number is categorical and becomes one indicator column per value (its values are
stored with the predictor, so a query encodes rows the same way); a column that
mixes both is an error naming the first odd cell, as is a categorical column with
so many distinct values that it is an identifier (a model name), not a feature.

The file's delimiter is sniffed among ``,``, ``;`` and tab; blank lines are skipped.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from search_spaces import NasError

DELIMITERS = ",;\t"
MAX_CATEGORIES = 64


class Columns(NamedTuple):
    """Feature columns in order; ``categories`` maps each categorical one to its values."""

    names: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = {}

    def expanded(self) -> list[str]:
        """The model's input columns: a numeric column, or ``name=value`` per category."""
        out: list[str] = []
        for c in self.names:
            out += [f"{c}={v}" for v in self.categories[c]] if c in self.categories else [c]
        return out

    def to_meta(self) -> dict[str, Any]:
        return {"columns": list(self.names), "categories": {k: list(v) for k, v in self.categories.items()}}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], *, source: str) -> Columns:
        cats = meta.get("categories") or {}
        names = tuple(meta["columns"])
        if not isinstance(cats, dict) or any(
            k not in names or not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v)
            for k, v in cats.items()
        ):
            raise NasError(f"predictor file '{source}': field 'categories' is malformed: {cats!r}")
        return cls(names, {k: tuple(v) for k, v in cats.items()})


def read_csv(path: str | Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells), ...]) of a CSV file, blank lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise NasError(f"field '--csv': no file {str(path)!r}")
    text = path.read_text(errors="replace")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first:
        raise NasError(f"file '{path}': empty")
    delim = max(DELIMITERS, key=first.count)
    rows = [
        (n, [c.strip() for c in r]) for n, r in enumerate(csv.reader(text.splitlines(), delimiter=delim), 1)
    ]
    rows = [(n, r) for n, r in rows if any(r)]
    return rows[0][1], rows[1:]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _cells(path, header: Sequence[str], rows, name: str) -> list[tuple[int, str]]:
    if name not in header:
        raise NasError(f"file '{path}': missing column(s) {[name]}; it has {list(header)}")
    k = header.index(name)
    out = []
    for n, r in rows:
        if k >= len(r) or r[k] == "":
            raise NasError(f"file '{path}': column '{name}' line {n} is empty")
        out.append((n, r[k]))
    return out


def numbers(path, header: Sequence[str], rows, names: Sequence[str]) -> np.ndarray:
    """The columns ``names`` as a float matrix; any other cell is an error naming it."""
    out = np.empty((len(rows), len(names)))
    for j, name in enumerate(names):
        for i, (n, cell) in enumerate(_cells(path, header, rows, name)):
            try:
                out[i, j] = float(cell)
            except ValueError:
                raise NasError(f"file '{path}': column '{name}' line {n} is not a number: {cell!r}") from None
    if not np.isfinite(out).all():
        raise NasError(f"file '{path}': non-finite values in columns {list(names)}")
    return out


def infer(path, header: Sequence[str], rows, names: Sequence[str]) -> Columns:
    """Which of ``names`` are numeric and which categorical (with their sorted values)."""
    cats: dict[str, tuple[str, ...]] = {}
    for name in names:
        cells = _cells(path, header, rows, name)
        num = [_is_number(c) for _, c in cells]
        if all(num):
            continue
        if any(num):
            n, cell = next((n, c) for (n, c), ok in zip(cells, num, strict=True) if ok != num[0])
            raise NasError(
                f"file '{path}': column '{name}' mixes numbers and text (line {n}: {cell!r}); "
                "a feature column is all numbers or all category names"
            )
        values = tuple(sorted({c for _, c in cells}))
        if len(values) > min(MAX_CATEGORIES, max(2, len(cells) // 2)):
            raise NasError(
                f"file '{path}': column '{name}' has {len(values)} distinct names in {len(cells)} rows: "
                "an identifier, not a feature; leave it out of --features"
            )
        cats[name] = values
    return Columns(tuple(names), cats)


def encode(cols: Columns, records: Sequence[Mapping[str, Any]], *, where: str) -> np.ndarray:
    """The model's input matrix of ``records`` (column -> cell): numbers, then one-hots."""
    out = np.zeros((len(records), len(cols.expanded())))
    for i, rec in enumerate(records):
        j = 0
        for c in cols.names:
            if c not in rec:
                raise NasError(f"{where}: missing column {c!r}")
            v = rec[c]
            if c in cols.categories:
                values = cols.categories[c]
                if str(v) not in values:
                    raise NasError(
                        f"{where}: column {c!r} value {v!r} was not in the fitted data {list(values)}"
                    )
                out[i, j + values.index(str(v))] = 1.0
                j += len(values)
                continue
            try:
                out[i, j] = float(v)
            except (TypeError, ValueError):
                raise NasError(f"{where}: column {c!r} value {v!r} is not a number") from None
            if not np.isfinite(out[i, j]):
                raise NasError(f"{where}: column {c!r} value {v!r} is not finite")
            j += 1
    return out
