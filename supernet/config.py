"""Training configs: YAML files with defaults, dotted ``key=value`` overrides, checked keys.

Example configs live in ``experiments/`` (each with the command that runs it in
its header comment).  Every key is listed in :data:`DEFAULTS`; an unknown key
or a value of the wrong type is a one-line :class:`NasError`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from search_spaces.errors import NasError
from search_spaces.yaml_io import read_yaml

DEFAULTS: dict[str, Any] = {
    "space": "vit-mnist",  # built-in space name or a space YAML file
    "seed": 0,
    "steps": 1000,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "warmup_steps": 100,
    "weight_decay": 0.05,
    "clip_norm": 1.0,
    "distill": False,  # inplace distillation from the largest subnet (BigNAS)
    # cost: the bin measure of complexity_aware / performance_aware, flops or latency (with device)
    "sampler": {"name": "complexity_aware", "cost": None, "device": None, "options": {}},
    "data": {},  # the task's own data (see supernet/tasks/); empty = the task's built-in dataset
    "checkpoint_every": 100,
    "log_every": 10,
    "eval_batch_size": 250,
    "eval_max_examples": 1000,  # validation examples (charlm: 64-token windows)
    "crash_after_step": None,  # testing aid: the process SIGKILLs itself after this step
}


_FREE_FORM = ("options", "data")  # mappings whose keys the sampler / the task checks


def _merge(base: dict, over: dict, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        name = f"{prefix}{k}"
        if k not in base:
            raise NasError(f"config: unknown field '{name}'; known fields are {sorted(base)}")
        if isinstance(base[k], dict) and k not in _FREE_FORM:
            if not isinstance(v, dict):
                raise NasError(f"config: field '{name}' must be a mapping, got {v!r}")
            out[k] = _merge(base[k], v, prefix=f"{name}.")
        elif k in _FREE_FORM:
            if not isinstance(v, dict):
                raise NasError(f"config: field '{name}' must be a mapping, got {v!r}")
            out[k] = {**base[k], **v}
        else:
            out[k] = _check_type(name, base[k], v)
    return out


def _check_type(name: str, default: Any, value: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise NasError(f"config: field '{name}' expects a {type(default).__name__}, got {value!r}")
    return value


def _nest(dotted: str, value: Any) -> dict:
    out: dict = {}
    cur = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def _deep_update(d: dict, u: dict) -> dict:
    for k, v in u.items():
        merge = isinstance(v, dict) and k not in _FREE_FORM  # replaced as a whole
        d[k] = _deep_update(dict(d.get(k) or {}), v) if merge else v
    return d


def _relative_to(raw: dict, base: Path) -> dict:
    """``raw`` with its relative paths (``space`` when not a built-in name, the task's data files)
    made absolute against ``base``: paths in a config file are relative to that file."""
    from search_spaces import builtin_names, load_space
    from supernet import tasks

    out = dict(raw)
    space = out.get("space")
    if isinstance(space, str) and space not in builtin_names() and not Path(space).is_absolute():
        out["space"] = str(base / space)
    data = out.get("data")
    if isinstance(data, dict) and data:
        task = tasks.get(load_space(out.get("space", DEFAULTS["space"])))
        data = dict(data)
        for key in task.data_files(data):
            if isinstance(data[key], str) and not Path(data[key]).is_absolute():
                data[key] = str((base / data[key]).resolve())
        out["data"] = data
    return out


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """DEFAULTS <- the YAML file <- ``key=value`` overrides (values parsed as YAML)."""
    raw: dict = {}
    if path is not None:
        raw = read_yaml(path, what="config file") or {}
        if not isinstance(raw, dict):
            raise NasError(f"config file '{path}': expected a mapping at the top level")
        raw = _relative_to(raw, Path(path).resolve().parent)
    for item in overrides:
        if "=" not in item:
            raise NasError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        raw = _deep_update(raw, _nest(key.strip(), value))
    cfg = _merge(DEFAULTS, raw)
    cfg = _relative_to(cfg, Path.cwd())  # paths given with --set are relative to the current directory
    smp = cfg["sampler"]
    for key in ("cost", "device"):  # sampler.cost / sampler.device are options of the binned samplers
        if smp.get(key) is not None:
            smp["options"] = {**smp["options"], key: smp[key]}
    for key in ("steps", "batch_size", "checkpoint_every", "log_every", "eval_batch_size"):
        if cfg[key] < 1:
            raise NasError(f"config: field '{key}' must be >= 1, got {cfg[key]!r}")
    return cfg
