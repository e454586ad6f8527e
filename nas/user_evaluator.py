"""The ``callable`` evaluator: a user's Python function ``module:function`` scores architectures.

The working directory is importable in the driver (:func:`user_path`) as with ``python -m
nas``, and so on Ray workers, which get the driver's ``sys.path``.  :func:`check_output` checks
what any evaluator function returns (a list of one metric dict per architecture).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

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


def user_code(specs: Sequence[Mapping[str, Any]]) -> tuple[list[str], str | None]:
    """What a cluster's workers need of the user's code: ``(modules, working_dir)``.

    None and no module without a ``callable`` evaluator.  With one, the working directory
    (local Ray workers see it on ``sys.path``; on a cluster it becomes theirs) and the
    callable's top-level package or file when it lies outside that folder, outside this
    project and outside the installed packages (``sys.prefix``).
    """
    targets = [s["target"] for s in specs if s.get("kind") == "callable"]
    if not targets:
        return [], None
    from predictors.remote import PACKAGES

    cwd = Path.cwd().resolve()
    installed = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix}]
    modules = []
    for target in targets:
        top = target.partition(":")[0].split(".")[0]
        spec = importlib.util.find_spec(top) if top not in PACKAGES else None
        if spec is None:
            continue
        locs = list(spec.submodule_search_locations or [])
        if len(locs) > 1 or not (locs or spec.origin):
            continue  # a namespace package or a built-in: nothing Ray can ship
        path = Path(locs[0] if locs else spec.origin).resolve()
        if path.suffix in ("", ".py") and not any(path.is_relative_to(d) for d in [cwd, *installed]):
            modules.append(str(path))
    return sorted(set(modules)), str(cwd)
