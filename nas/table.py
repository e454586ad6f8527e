"""Lookup tables of measured architectures (tabular NAS benchmarks).

A table is a JSON-lines file, one architecture per line.  The project's own
format is ``{"arch": {...}, "metrics": {...}}`` with the arch in the space's
field names.  Tables written by other tools (NAS-Bench-style files such as
HW-GPT-Bench's) are read through two options of the ``table`` evaluator:

* ``fields``: space field -> key of the row's ``arch`` mapping, e.g.
  ``{depth: sample_n_layer, embed_dim: sample_embed_dim, num_heads: sample_n_head}``;
  only mapped keys are read, and per-layer lists longer than the depth are cut
  to it (HW-GPT-Bench stores every list at the maximum depth);
* ``metrics``: names of metric columns at the top level of a row, e.g.
  ``[perplexity, params]`` (instead of a ``metrics`` mapping).

A row that cannot be read is an error naming the file and line; the same
architecture twice with different metrics is an error naming both lines (the
same metrics twice is a harmless duplicate and is kept once).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError

TABLE_OPTIONS = ("path", "fields", "metrics", "free")
_CACHE: dict[tuple, tuple[dict[str, dict[str, float]], dict[str, int]]] = {}


def check_options(spec: Mapping[str, Any], *, where: str = "evaluators") -> None:
    """One-line errors for malformed ``fields`` / ``metrics`` / ``free`` options."""
    fields = spec.get("fields")
    if fields is not None and (
        not isinstance(fields, Mapping)
        or not fields
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    ):
        raise NasError(
            f"field '{where}.fields': expected a mapping of space field -> table key "
            f"(e.g. {{depth: sample_n_layer}}), got {fields!r}"
        )
    if fields is not None and "depth" not in fields:
        raise NasError(
            f"field '{where}.fields': needs the key of 'depth' (e.g. depth: n_layer), got {fields!r}"
        )
    for key in ("metrics", "free"):
        value = spec.get(key)
        if value is not None and (
            not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value)
        ):
            raise NasError(f"field '{where}.{key}': expected a list of metric names, got {value!r}")


def _cut_to_depth(raw: dict[str, Any]) -> dict[str, Any]:
    """Per-layer lists cut to the row's depth: other tools (HW-GPT-Bench) store every list
    at the maximum depth.  Only mapped rows are cut; the project's own rows must be exact."""
    depth = raw.get("depth")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        return raw  # ArchConfig names the bad depth
    return {k: v[:depth] if isinstance(v, list) else v for k, v in raw.items()}


def _row(path: str, n: int, line: str, fields, metrics) -> tuple[ArchConfig, dict[str, float]]:
    fmt = (
        '{"arch": {...}, "metrics": {...}}'
        if metrics is None
        else '{"arch": {...}, ' + ", ".join(f'"{m}": NUMBER' for m in metrics) + "}"
    )
    try:
        row = json.loads(line)
        raw = row["arch"]
        if fields is not None:
            raw = _cut_to_depth({name: raw[key] for name, key in fields.items()})
        arch = ArchConfig.from_dict(raw)
        if metrics is None:
            values = {str(k): float(v) for k, v in row["metrics"].items()}
        else:
            values = {m: float(row[m]) for m in metrics}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise NasError(f"table '{path}' line {n}: expected {fmt} ({type(e).__name__}: {e})") from None
    return arch, values


def load(
    path: str | Path, *, fields: Mapping[str, str] | None = None, metrics: Sequence[str] | None = None
) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """(arch JSON -> metrics, arch JSON -> line number), cached per file and mapping."""
    key = (
        str(Path(path).resolve()),
        tuple(sorted(fields.items())) if fields else None,
        tuple(metrics) if metrics else None,
    )
    if key in _CACHE:
        return _CACHE[key]
    p = Path(path)
    if not p.is_file():
        raise NasError(f"field 'evaluators.path': table file '{path}' does not exist")
    table: dict[str, dict[str, float]] = {}
    lines: dict[str, int] = {}
    with p.open() as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            arch, values = _row(str(path), n, line, fields, metrics)
            k = arch.to_json()
            if k in table and table[k] != values:
                raise NasError(
                    f"table '{path}': lines {lines[k]} and {n} hold the same architecture with different "
                    f"metrics ({table[k]} vs {values})"
                )
            table.setdefault(k, values)
            lines.setdefault(k, n)
    if not table:
        raise NasError(f"table '{path}' has no rows")
    _CACHE[key] = (table, lines)
    return table, lines


def read_table(
    path: str | Path, *, fields: Mapping[str, str] | None = None, metrics: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """arch JSON -> metrics."""
    return load(path, fields=fields, metrics=metrics)[0]


def table_archs(
    path: str | Path,
    space: SearchSpace,
    *,
    fields: Mapping[str, str] | None = None,
    metrics: Sequence[str] | None = None,
) -> list[ArchConfig]:
    """Every architecture of a table, validated against the space (errors name the line)."""
    table, lines = load(path, fields=fields, metrics=metrics)
    archs = []
    for k in table:
        a = ArchConfig.from_json(k)
        try:
            space.validate(a)
        except NasError as e:
            raise NasError(f"table '{path}' line {lines[k]}: {e}") from None
        archs.append(a)
    return archs


def mapping(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fields`` / ``metrics`` keywords of a table evaluator's declaration."""
    return {"fields": spec.get("fields"), "metrics": spec.get("metrics")}
