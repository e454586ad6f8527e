"""The fidelity study's units of work and where they live on disk.

A *unit* is one finished piece of the study (a stand-alone training, a trained
supernet's record, the inherited evaluation of the subnets, a search): a small JSON
file written atomically (a temporary file, then ``os.replace``) the moment it finishes,
and skipped when present, so a study killed at any point redoes at most the unit that
was running.  The unit folder holds ``study.json``, the configuration that made it; a
run with another configuration is refused, naming the first field that differs, before
anything is written.

Stand-alone training (:func:`train_standalone`) is the plain model of
:mod:`supernet.standalone` trained from scratch with the supernet's own optimizer
(:func:`supernet.optim.make_optimizer`: AdamW, warm-up + cosine, clipping) and scored on
the same validation batches with the task's own metrics.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np
import optax

from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError
from supernet import data, standalone
from supernet.config import load_config
from supernet.optim import make_optimizer


def digest(obj: Any) -> str:
    """A short stable hash of a JSON-able object (unit file names)."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def write_atomic(path: Path, obj: Any) -> None:
    """Writes ``obj`` as JSON to ``path`` so that a kill leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read(path: Path) -> Any | None:
    """A finished unit's JSON, or None when it is not there yet."""
    return json.loads(path.read_text()) if path.is_file() else None


def unit(path: Path, make: Callable[[], dict], *, log: Callable[[str], None] = print) -> dict:
    """The unit at ``path``: read when finished, else made by ``make()`` (timed) and written."""
    found = read(path)
    if found is not None:
        return found
    t = time.time()
    out = make()
    out = {**out, "seconds": round(time.time() - t, 2)}
    write_atomic(path, out)
    log(f"done {path.parent.name}/{path.name} ({out['seconds']:.0f} s)")
    return out


def claim(folder: Path, config: dict, grows: Sequence[str] = ()) -> None:
    """Makes ``folder`` the unit folder of ``config``, or refuses one made with another configuration.

    Keys in ``grows`` only add units (another seed, another run) and may differ: the folder's
    record takes the new value."""
    path = folder / "study.json"
    old = read(path)
    if old is None:
        write_atomic(path, config)
        return
    for key in sorted(set(old) | set(config)):
        if key not in grows and old.get(key) != config.get(key):
            flag = "--" + key.removesuffix("_def").replace("_", "-")
            shown = (old.get(key), config.get(key)) if key != "space_def" else ("another definition", "this one")
            raise NasError(
                f"field '{flag}': the results folder '{folder}' was made with {shown[0]!r}, not {shown[1]!r} "
                "(give another --units folder or the same setting)"
            )
    if old != config:
        write_atomic(path, config)


def optimizer_config(*, steps: int, batch: int, lr: float, warmup: int) -> dict:
    """The training config both stand-alone and supernet runs use (same recipe, same schedule)."""
    return load_config(
        None, [f"steps={steps}", f"batch_size={batch}", f"learning_rate={lr}", f"warmup_steps={warmup}"]
    )


def _stats_fn(apply: Callable) -> Callable:
    """(params, x, y) -> (sum of losses, number correct, count) for a model ``apply(params, x) -> logits``."""

    def stats(p, x, y):
        logits = apply(p, x)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return losses.sum(), (logits.argmax(-1) == y).sum(), losses.size

    return jax.jit(stats)


@functools.lru_cache(maxsize=8)
def _programs(space: SearchSpace, arch: ArchConfig, steps: int, batch: int, lr: float, warmup: int):
    """The model, optimizer, jitted train step and jitted validation stats of one stand-alone run
    (cached: a second seed of the same subnet reuses the compiled programs)."""
    m = standalone.build(space, arch)
    tx = make_optimizer(optimizer_config(steps=steps, batch=batch, lr=lr, warmup=warmup))

    def apply(p, x):
        return m.apply({"params": p}, x)

    return tx, standalone.train_step(space, arch, tx), _stats_fn(apply)


def train_standalone(
    space: SearchSpace, arch: ArchConfig, *, steps: int, batch: int, lr: float, warmup: int, seed: int, ds, val
) -> dict[str, float]:
    """Validation metrics of ``arch`` trained from scratch for ``steps`` steps of ``batch`` examples.

    ``seed`` sets both the initial weights and the order of the training batches.
    """
    tx, step, stats = _programs(space, arch, steps, batch, lr, warmup)
    params = standalone.init(space, arch, jax.random.key(seed))["params"]
    opt_state = tx.init(params)
    last = []
    for i in range(steps):
        params, opt_state, value = step(params, opt_state, *data.train_batch(ds, step=i, batch_size=batch, seed=seed))
        if i >= steps - 10:
            last.append(value)
    sums = np.array([[float(v) for v in stats(params, x, y)] for x, y in val]).sum(0)
    out = ds.task.metrics(sums[0] / sums[2], sums[1] / sums[2])
    if not np.isfinite(out["loss"]):
        raise NasError(f"field 'arch': stand-alone training of {arch.short()} diverged (loss {out['loss']})")
    return {**out, "train_loss_last10": float(np.mean(last))}
