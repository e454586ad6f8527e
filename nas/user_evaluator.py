"""The ``callable`` evaluator: a user's Python function ``module:function`` scores architectures.

The working directory is importable in the driver (:func:`user_path`) as with ``python -m
nas``, and so on Ray workers, which get the driver's ``sys.path``.  :func:`check_output` checks
what any evaluator function returns (a list of one metric dict per architecture).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable, Mapping

from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError

Fn = Callable[[list[ArchConfig]], list[dict[str, float]]]


def user_path() -> None:
    """Puts the working directory first on ``sys.path`` unless it is there (as ``''`` or
    itself): a user's ``my_eval:score`` then imports as it would with ``python -m nas``,
    and the Ray workers, which get the driver's ``sys.path``, import it the same way."""
    cwd = os.getcwd()
    if not any(p in ("", ".") or os.path.abspath(p) == cwd for p in sys.path):
        sys.path.insert(0, cwd)


def load_callable(target: str) -> Callable:
    module, _, name = target.partition(":")
    user_path()
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - the user's module: any import failure is its cause
        raise NasError(
            f"field 'target': cannot import module {module!r} ({type(e).__name__}: {first_line(e)})"
        ) from None
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise NasError(f"field 'target': module {module!r} has no function {name!r}")
    return fn


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def check_output(kind: str, out: Any, n: int) -> list[dict[str, float]]:
    if not isinstance(out, (list, tuple)) or len(out) != n:
        raise NasError(
            f"evaluator {kind!r} returned {type(out).__name__} for {n} archs; expected a list of {n} dicts"
        )
    rows = []
    for m in out:
        if not isinstance(m, Mapping):
            raise NasError(f"evaluator {kind!r} returned {m!r}; expected a dict of metric -> number")
        try:
            rows.append({str(k): float(v) for k, v in m.items()})
        except (TypeError, ValueError):
            raise NasError(
                f"evaluator {kind!r} returned {m!r}; expected a dict of metric -> number"
            ) from None
    return rows


def build_callable(spec: Mapping[str, Any], space: SearchSpace, payload: None) -> Fn:
    user = load_callable(spec["target"])
    opts = dict(spec.get("options") or {})

    def fn(archs):
        return check_output(spec["target"], user(list(archs), **opts), len(archs))

    return fn
