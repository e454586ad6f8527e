"""Reading a user's YAML file with one-line errors that name the file and the line,
and the one ``--set KEY=VALUE`` override rule shared by search and training configs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from search_spaces.errors import NasError


class _Duplicate(yaml.YAMLError):
    def __init__(self, key: Any, mark) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.problem, self.problem_mark = f"duplicate key {key!r}", mark


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error
    (plain PyYAML silently keeps the last value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # PyYAML reports unhashable keys itself
            if key in seen:
                raise _Duplicate(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` that rejects duplicate keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | Path, *, what: str, mapping: bool = True, error: type[NasError] = NasError) -> Any:
    """Parsed YAML of ``path``; ``what`` names the file in errors (e.g. "search config")."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{what} '{path}' does not exist")
    try:
        data = safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{what} '{path}': malformed YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if mapping and data is not None and not isinstance(data, dict):
        raise error(f"{what} '{path}': expected a mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(raw: dict, overrides: Sequence[str], *, fields: Iterable[str] | None = None) -> dict:
    """``key=value`` or ``a.b=value`` (value parsed as YAML) into a copy of ``raw``.

    The value replaces what was at that path (a mapping value replaces the whole
    mapping); intermediate mappings are created.  ``fields``, when given, are the
    allowed top-level keys.  A value that is not valid YAML is an error, never a string.
    """
    out = copy.deepcopy(raw)
    known = sorted(fields) if fields is not None else None
    for item in overrides:
        key, eq, text = item.partition("=")
        key = key.strip()
        parts = key.split(".")
        if not eq or not key or not all(parts):
            raise NasError(
                f"--set {item!r}: expected KEY=VALUE (for example budget=50 or strategy.population=30)"
            )
        try:
            value = safe_load(text)
        except yaml.YAMLError as e:
            raise NasError(
                f"--set {item!r}: value {text!r} is not valid YAML ({getattr(e, 'problem', None) or e})"
            ) from None
        if known is not None and parts[0] not in known:
            raise NasError(f"--set {item!r}: unknown field {parts[0]!r}; fields are {known}")
        node = out
        for p in parts[:-1]:
            if node.get(p) is None:
                node[p] = {}
            if not isinstance(node[p], dict):
                raise NasError(f"--set {item!r}: field {p!r} is not a mapping")
            node = node[p]
        node[parts[-1]] = value
    return out
