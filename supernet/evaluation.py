"""Inherited evaluation: any subnet scored with the supernet's weights, no retraining.

Many subnets are evaluated with the same compiled programs (one per embedding
width, see :mod:`supernet.model`), never one compile per subnet.  Metrics on
the validation split, as the space's task kind reports them (``accuracy`` and
``loss`` for classifiers; ``loss`` and ``perplexity`` for language models).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, SearchSpace, space_from_dict
from supernet import checkpoint, data, model, tasks
from supernet.losses import batch_stats


@functools.partial(jax.jit, static_argnames=("geo", "embed_dim"))
def _batch_stats(params, x, y, codes, *, geo: model.Geometry, embed_dim: int):
    """(sum of token/example losses, number correct, count of labelled positions) on one batch."""
    logits = model.apply_codes(params, x, codes, geo=geo, embed_dim=embed_dim)
    return batch_stats(logits, y)  # over the labelled positions (y >= 0)


def evaluate(
    space: SearchSpace, params: dict, archs: Sequence[ArchConfig], batches: Sequence[tuple]
) -> list[dict[str, float]]:
    """Validation metrics of each architecture with inherited weights."""
    geo = model.geometry(space)
    task = tasks.get(space)
    batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in batches]
    out = []
    for arch in archs:
        space.validate(arch)
        E, codes = model.encode_arch(geo, arch)
        codes = jnp.asarray(codes)
        stats = [_batch_stats(params, x, y, codes, geo=geo, embed_dim=E) for x, y in batches]
        loss_sum, correct, count = (float(np.sum(v)) for v in zip(*jax.device_get(stats), strict=True))
        out.append(task.metrics(loss_sum / count, correct / count))
    return out


@functools.partial(jax.jit, static_argnames=("geo", "embed_dim"))
def _batch_predictions(params, x, codes, *, geo: model.Geometry, embed_dim: int):
    return model.apply_codes(params, x, codes, geo=geo, embed_dim=embed_dim).argmax(-1)


def class_breakdown(
    space: SearchSpace,
    params: dict,
    arch: ArchConfig,
    batches: Sequence[tuple],
    classes: Sequence[str] | None,
) -> dict | None:
    """Per-class accuracy and confusion matrix of ``arch`` on ``batches``
    (:func:`supernet.tasks.labelled.breakdown`), None unless the task classifies."""
    from supernet.tasks.labelled import breakdown

    if not tasks.get(space).classifies or not batches:
        return None
    space.validate(arch)
    geo = model.geometry(space)
    E, codes = model.encode_arch(geo, arch)
    codes = jnp.asarray(codes)
    preds = [_batch_predictions(params, jnp.asarray(x), codes, geo=geo, embed_dim=E) for x, _ in batches]
    y = np.concatenate([np.asarray(y) for _, y in batches])
    names = list(classes) if classes else [str(i) for i in range(int(space.task["num_classes"]))]
    return breakdown(y, np.concatenate(jax.device_get(preds)), names)


def compiles() -> int:
    """Number of evaluation programs compiled in this process."""
    return _batch_stats._cache_size()


def load_payload(workdir: str | Path) -> dict:
    """Everything inherited evaluation needs, read once from a run's files into memory.

    ``{"space": dict, "params": numpy pytree, "batches": [(x, y), ...], "step": int}``: the
    latest checkpoint's weights and the validation split as the task reads it (its data
    files, tokenizer and class names applied), so that a process on another machine can
    evaluate from this payload alone (Ray ships it through its object store).
    """
    space, params, config = checkpoint.load(workdir)
    ds = data.load(space, config.get("data"), home=workdir)
    batches = data.val_batches(
        ds, batch_size=config["eval_batch_size"], max_examples=config["eval_max_examples"]
    )
    return {
        "space": space.to_dict(),
        "params": jax.device_get(params),
        "batches": [(np.ascontiguousarray(x), np.ascontiguousarray(y)) for x, y in batches],
        "step": int(config["restored_step"]),
    }


def evaluator_from_payload(payload: dict) -> Callable[[list[ArchConfig]], list[dict[str, float]]]:
    """``archs -> metrics`` on the payload's validation batches (:func:`load_payload`); reads no file."""
    space = space_from_dict(payload["space"], source="supernet payload")
    params = jax.device_put(payload["params"])
    batches = payload["batches"]

    def evaluator(archs: list[ArchConfig]) -> list[dict[str, float]]:
        return evaluate(space, params, archs, batches)

    return evaluator


def load_evaluator(workdir: str | Path) -> Callable[[list[ArchConfig]], list[dict[str, float]]]:
    """Loads the latest checkpoint of a run once; returns ``archs -> metrics`` on its validation split."""
    return evaluator_from_payload(load_payload(workdir))
