"""Training configs: YAML files with defaults, dotted ``key=value`` overrides, checked keys.

Example configs live in ``experiments/`` (each with the command that runs it in
its header comment).  Every key is listed in :data:`DEFAULTS`; an unknown key
or a value of the wrong type is a one-line :class:`NasError`.  The format is
documented by ``supernet/schemas/train.schema.json`` (every field, its type, range
and meaning), which the merged config is checked against at load.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Sequence

from search_spaces.errors import NasError
from search_spaces.yaml_io import apply_overrides, read_yaml

DEFAULTS: dict[str, Any] = {
    "space": "vit-mnist",  # built-in space name or a space YAML file
    "seed": 0,
    "steps": 1000,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "warmup_steps": 100,
    "weight_decay": 0.05,
    "clip_norm": 1.0,
    "distill": None,  # inplace distillation (BigNAS); None: on when init_from is set, else off
    "distill_teacher": "largest",  # 'largest' subnet in training, or the frozen 'pretrained' import
    "init_from": None,  # a Hugging Face GPT-2 folder (config.json + model.safetensors) to start from
    "init_order": "position",  # 'importance': sort heads and MLP neurons before import
    # cost: the bin measure of complexity_aware / performance_aware, flops or latency (with device)
    "sampler": {"name": "complexity_aware", "cost": None, "device": None, "options": {}},
    "data": {},  # the task's own data (see supernet/tasks/); empty = the task's built-in dataset
    "checkpoint_every": 100,
    "log_every": 10,
    "eval_batch_size": 250,
    "eval_max_examples": 1000,  # validation examples (charlm: 64-token windows)
    "precision": "f32",  # 'bf16': bfloat16 compute, float32 master weights, AdamW state and loss
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


def _check_choice(cfg: dict, key: str, choices: tuple) -> None:
    if not any(cfg[key] is c or (isinstance(c, str) and cfg[key] == c) for c in choices):
        raise NasError(f"config: field '{key}' is {cfg[key]!r}; choose one of {list(choices)}")


def distill_on(cfg: dict[str, Any]) -> bool:
    """Whether a run distils: the ``distill`` field, or by default when it starts from a checkpoint."""
    return bool(cfg["init_from"]) if cfg["distill"] is None else bool(cfg["distill"])


def _relative_to(raw: dict, base: Path) -> dict:
    """``raw`` with its relative paths (``space`` when not a built-in name, ``init_from``, the
    task's data files) made absolute against ``base``: paths in a config file are relative to it."""
    from search_spaces import builtin_names, load_space
    from supernet import tasks

    out = dict(raw)
    space = out.get("space")
    if isinstance(space, str) and space and space not in builtin_names() and not Path(space).is_absolute():
        out["space"] = str((base / space).resolve())
    init = out.get("init_from")
    if isinstance(init, str) and init and not Path(init).is_absolute():
        out["init_from"] = str((base / init).resolve())
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
        raw = _relative_to(raw, Path(path).resolve().parent)  # paths in the file: relative to it
    raw = apply_overrides(raw, overrides, fields=DEFAULTS)
    cfg = _merge(DEFAULTS, raw)
    cfg = _relative_to(cfg, Path.cwd())  # paths given with --set: relative to the current directory
    smp = cfg["sampler"]
    for key in ("cost", "device"):  # sampler.cost / sampler.device are options of the binned samplers
        if smp.get(key) is not None:
            smp["options"] = {**smp["options"], key: smp[key]}
    check_values(cfg)
    from search_spaces.schema import validate

    where = "config" if path is None else f"config file '{path}'"
    validate(cfg, "supernet", "train", where=where)  # supernet/schemas/train.schema.json
    return cfg


def check_values(cfg: dict[str, Any]) -> None:
    """Ranges of the numeric fields (types were checked by the merge)."""
    for key in (
        "steps",
        "batch_size",
        "checkpoint_every",
        "log_every",
        "eval_batch_size",
        "eval_max_examples",
    ):
        if cfg[key] < 1:
            raise NasError(f"config: field '{key}' must be >= 1, got {cfg[key]!r}")
    _check_choice(cfg, "distill", (None, True, False))
    _check_choice(cfg, "distill_teacher", ("largest", "pretrained"))
    _check_choice(cfg, "precision", ("f32", "bf16"))
    _check_choice(cfg, "init_order", ("position", "importance"))
    if cfg["init_from"] is not None and not isinstance(cfg["init_from"], str):
        raise NasError(f"config: field 'init_from' expects a folder path, got {cfg['init_from']!r}")
    if cfg["distill_teacher"] == "pretrained" and not cfg["init_from"]:
        raise NasError("config: field 'distill_teacher' is 'pretrained' but 'init_from' is not set")
    for key in ("seed", "warmup_steps"):
        if cfg[key] < 0:
            raise NasError(f"config: field '{key}' must be >= 0, got {cfg[key]!r}")
    for key, positive in (("learning_rate", True), ("clip_norm", True), ("weight_decay", False)):
        v = cfg[key]
        if not math.isfinite(v) or v < 0 or (positive and v == 0):
            bound = "> 0" if positive else ">= 0"
            raise NasError(f"config: field '{key}' must be a finite number {bound}, got {v!r}")
