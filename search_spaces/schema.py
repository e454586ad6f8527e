"""JSON Schemas of the files the framework writes and reads, checked at load.

Each format has one schema file, which is also its documentation (docs/design.md
links them):

===============================================  ======================================
``search_spaces/schemas/space.schema.json``      a space YAML (and a space inside other files)
``search_spaces/schemas/task.schema.json``       a space's ``task`` block
``nas/schemas/search.schema.json``               a search config, and a run's ``config.yaml``
``nas/schemas/bundle.schema.json``               a bundle's ``config.json``
``supernet/schemas/train.schema.json``           a training config, and a run's ``config.json``
``predictors/schemas/predictor.schema.json``     a fitted predictor's ``<space>.json`` (+ npz)
===============================================  ======================================

They are checked with ``jsonschema`` (Draft 2020-12): the schemas are plain data that
any language can read, and the library reports every failure with the path of the
field, which :func:`validate` turns into one line naming the file, the field and the
value (a :class:`NasError`, exit status 2 in the CLI).  Numbers must be finite: NaN
and infinity are not numbers here.  Checks a schema cannot state (a choice outside a
space, a metric no evaluator gives) stay in the loaders, as one-line errors too.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import Any, Mapping

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from search_spaces.errors import NasError

_BASE = jsonschema.Draft202012Validator
_TYPES = _BASE.TYPE_CHECKER.redefine(
    "number",
    lambda _, x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x),
).redefine("integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
Validator = jsonschema.validators.extend(_BASE, type_checker=_TYPES)

_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a finite number",
    "boolean": "true or false",
    "null": "null",
}
_OWN = ("space", "task")  # the schemas of this package, which the others refer to


@functools.cache
def load_schema(package: str, name: str) -> dict:
    """The schema ``<package>/schemas/<name>.schema.json`` (a dict, cached)."""
    return json.loads((resources.files(package) / "schemas" / f"{name}.schema.json").read_text())


def _bare(schema: dict) -> dict:
    """The schema without ``$schema``: with it, jsonschema would check a referenced schema
    with the stock validator, whose numbers include NaN."""
    return {k: v for k, v in schema.items() if k != "$schema"}


@functools.cache
def _registry() -> Registry:
    return Registry().with_resources(
        (s["$id"], Resource(contents=_bare(s), specification=DRAFT202012))
        for s in (load_schema("search_spaces", n) for n in _OWN)
    )


@functools.cache
def _validator(package: str, name: str):
    return Validator(_bare(load_schema(package, name)), registry=_registry())


def _field(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _words(types: Any) -> str:
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join(_WORDS.get(t, t) for t in types)


def _all_required(err: jsonschema.ValidationError) -> bool:
    """An anyOf of 'required' alternatives: the value must state one of several field sets."""
    return err.validator in ("anyOf", "oneOf") and all(e.validator == "required" for e in err.context)


def _rank(e: jsonschema.ValidationError) -> tuple:
    return (-len(e.absolute_path), not _all_required(e), e.validator != "required", str(e.validator))


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Inside an anyOf/oneOf, the alternative that got furthest (the user's evident intent)."""
    while err.context and not _all_required(err):
        depth = len(err.absolute_path)
        # a branch whose type does not fit the value says nothing about the user's intent
        wrong = {
            e.relative_schema_path[0]
            for e in err.context
            if e.validator == "type" and len(e.absolute_path) == depth
        }
        fits = [e for e in err.context if e.relative_schema_path[0] not in wrong]
        if not fits:
            break
        err = min(fits, key=_rank)
    return err


def message(err: jsonschema.ValidationError) -> str:
    """One line for one schema failure: the field (dotted path), what was wrong and the value."""
    err = _deepest(err)
    path, kind, schema, value = list(err.absolute_path), err.validator, err.schema, err.instance
    field = _field(path)
    if _all_required(err):
        return f"field '{field}' must state {schema.get('description', 'more fields')}"
    if kind == "required":
        missing = next(k for k in err.validator_value if k not in value)
        return f"field '{_field([*path, missing])}' is missing"
    if kind == "dependentRequired":
        have = next(
            k for k, deps in err.validator_value.items() if k in value and any(d not in value for d in deps)
        )
        missing = next(d for d in err.validator_value[have] if d not in value)
        return f"field '{_field([*path, missing])}' is missing (needed with '{have}')"
    if kind in ("additionalProperties", "unevaluatedProperties"):
        known = set(schema.get("properties", {}))
        extra = sorted(k for k in value if k not in known)
        allowed = f"; allowed fields are {sorted(known)}" if known else ""
        return f"unknown field '{_field([*path, extra[0]])}'{allowed}"
    if "propertyNames" in err.absolute_schema_path:
        return f"field '{field}' has a key that is not allowed: {_short(value)}"
    where = f"field '{field}'" if field else "the top level"
    desc = schema.get("description")
    if kind == "type":
        return f"{where}: expected {desc or _words(err.validator_value)}, got {_short(value)}"
    if kind == "enum" and "title" in schema:  # e.g. "unknown evaluator 'oracle'"
        return f"{where}: unknown {schema['title']} {_short(value)}; choose one of {err.validator_value}"
    if kind == "enum":
        return f"{where} is {_short(value)}; choose one of {err.validator_value}"
    if kind == "const":
        return f"{where} is {_short(value)}; expected {err.validator_value!r}"
    bounds = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if kind in bounds:
        what = _words(schema.get("type", "number")).replace(" or null", "")
        return f"{where}: expected {what} {bounds[kind]} {err.validator_value}, got {_short(value)}"
    sizes = {
        "minItems": "at least",
        "maxItems": "at most",
        "minProperties": "at least",
        "minLength": "at least",
    }
    if kind in sizes:
        unit = "characters" if kind == "minLength" else "items"
        return f"{where}: expected {sizes[kind]} {err.validator_value} {unit}, got {_short(value)}"
    if kind == "pattern":
        return (
            f"{where}: expected {desc or 'text matching ' + repr(err.validator_value)}, got {_short(value)}"
        )
    if kind == "not" and isinstance(err.validator_value, dict) and "type" in err.validator_value:
        return f"{where} must not be {_words(err.validator_value['type'])}, got {_short(value)}"
    if kind in ("anyOf", "oneOf") and desc:
        return f"{where}: expected {desc}, got {_short(value)}"
    return f"{where}: {_short(value)} {err.message.split(' is ', 1)[-1] if ' is ' in err.message else err.message}"


def validate(instance: Any, package: str, name: str, *, where: str) -> None:
    """Raises a one-line NasError ``{where}: field 'a.b' ... got VALUE`` unless ``instance``
    satisfies ``<package>/schemas/<name>.schema.json``."""
    errors = list(_validator(package, name).iter_errors(instance))
    if errors:
        err = min(errors, key=lambda e: (list(map(str, e.absolute_path)), _rank(e)))
        try:
            text = message(err)
        except Exception:  # noqa: BLE001 - a value this formatter did not foresee: jsonschema's own words
            text = f"field '{_field(err.absolute_path)}': {err.message.splitlines()[0][:200]}"
        raise NasError(f"{where}: {text}")


def check(instance: Mapping[str, Any] | Any, package: str, name: str) -> list[str]:
    """Every failure of ``instance`` as one line each (for tools and tests)."""
    return [message(e) for e in _validator(package, name).iter_errors(instance)]
