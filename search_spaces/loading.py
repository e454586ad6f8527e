"""Declaring spaces in YAML and finding the built-in ones.

A space file looks like::

    name: my-space
    description: one line
    max_depth: 12            # per-layer slots
    global:                  # one value per model; 'depth' is special
      embed_dim: [64, 128]
      depth: [4, 8, 12]
      bias: [true, false]
    layer:                   # one value per active layer
      num_heads: [2, 4]
      attn_type: [softmax, linear]
    task: {kind: charlm, vocab_size: 128, seq_len: 64, head_dim: 16}   # optional

Built-in spaces are the YAML files in ``search_spaces/builtin/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from search_spaces.errors import NasError, SpaceError
from search_spaces.geometry import check_layer_ops, geometry_of_task
from search_spaces.schema import validate
from search_spaces.space import SearchSpace
from search_spaces.yaml_io import read_yaml

_KEYS = {"name", "description", "max_depth", "global", "layer", "task"}


def space_from_dict(d: Mapping[str, Any], *, source: str = "space") -> SearchSpace:
    """A SearchSpace from its declaration (the parsed YAML)."""
    if not isinstance(d, Mapping):
        raise SpaceError(f"{source}: expected a mapping at the top level, got {type(d).__name__}")
    try:
        validate(dict(d), "search_spaces", "space", where=source)  # schemas/space.schema.json
    except NasError as e:
        raise SpaceError(str(e)) from None
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise SpaceError(f"{source}: unknown field {unknown[0]!r}; allowed fields are {sorted(_KEYS)}")
    for key in ("name", "max_depth"):
        if key not in d:
            raise SpaceError(f"{source}: field '{key}' is missing")
    if not isinstance(d["name"], str) or not d["name"]:
        raise SpaceError(f"{source}: field 'name' must be a non-empty string, got {d['name']!r}")
    sections = {}
    for key in ("global", "layer", "task"):
        val = d.get(key) or {}
        if not isinstance(val, Mapping):
            raise SpaceError(f"{source}: field '{key}' must be a mapping, got {val!r}")
        sections[key] = dict(val)
    for key in ("global", "layer"):
        for dim, choices in sections[key].items():
            if not isinstance(choices, list):
                raise SpaceError(f"{source}: field '{key}.{dim}' must be a list of choices, got {choices!r}")
    try:
        space = SearchSpace(
            name=d["name"],
            max_depth=d["max_depth"],
            global_dims=sections["global"],
            layer_dims=sections["layer"],
            task=sections["task"],
            description=str(d.get("description", "")),
        )
    except SpaceError as e:
        raise SpaceError(f"{source}: {e}") from None
    _check_layer_ops(space)
    return space


def _check_layer_ops(space: SearchSpace) -> None:
    """What a layer computes is checked at load (:func:`search_spaces.geometry.check_layer_ops`;
    causality when the task block is complete enough to say; its own errors come later)."""
    try:
        geo = geometry_of_task(space.task, where=f"space '{space.name}'") if space.task else None
    except NasError:
        geo = None
    check_layer_ops(space, causal=bool(geo and geo.causal), llama=bool(geo and geo.llama))


def load_space_file(path: str | Path) -> SearchSpace:
    data = read_yaml(path, what="space file", mapping=False, error=SpaceError)
    return space_from_dict(data, source=f"space file '{path}'")


def builtin_names() -> list[str]:
    folder = resources.files("search_spaces") / "builtin"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_space(name_or_path: str | Path | SearchSpace) -> SearchSpace:
    """A built-in space by name (``vit-mnist``) or a YAML file by path."""
    if isinstance(name_or_path, SearchSpace):
        return name_or_path
    text = str(name_or_path)
    if text in builtin_names():
        src = resources.files("search_spaces") / "builtin" / f"{text}.yaml"
        return space_from_dict(yaml.safe_load(src.read_text()), source=f"built-in space '{text}'")
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_space_file(text)
    raise SpaceError(f"unknown space {text!r}; built-in spaces are {builtin_names()} (or pass a .yaml file)")
