"""Reading a user's YAML file with one-line errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from search_spaces.errors import NasError


def read_yaml(path: str | Path, *, what: str, mapping: bool = True, error: type[NasError] = NasError) -> Any:
    """Parsed YAML of ``path``; ``what`` names the file in errors (e.g. "search config")."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{what} '{path}' does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{what} '{path}': malformed YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if mapping and data is not None and not isinstance(data, dict):
        raise error(f"{what} '{path}': expected a mapping at the top level, got {type(data).__name__}")
    return data
