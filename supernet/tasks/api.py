"""The task-kind contract and its registry (the built-in kinds import this, not the package).

See :mod:`supernet.tasks` for what a task kind is and how to add one.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

from search_spaces import SearchSpace
from search_spaces.errors import NasError


class Task(NamedTuple):
    """The functions a task kind provides.

    ``data`` below is whatever the kind's ``load`` returns (held by :class:`supernet.data.Dataset`).
    """

    check: Callable[[Mapping[str, Any], str], None]
    """(task block, where) -> None; a one-line NasError naming a missing or bad field."""
    load: Callable[..., Any]
    """(space, data_cfg, *, home) -> data: reads the data (``data_cfg`` from the training
    config, paths already absolute; empty = the kind's built-in dataset); ``home`` is the
    run's folder (workdir or bundle) where a tokenizer is kept."""
    train_batch: Callable[..., tuple]
    """(data, *, step, batch_size, seed) -> (x, y): a pure function of its arguments."""
    val_batches: Callable[..., list]
    """(data, *, batch_size, max_examples) -> [(x, y), ...] of the fixed validation split."""
    metrics: Callable[[float, float], dict[str, float]]
    """(mean cross-entropy, accuracy) -> the kind's validation metrics."""
    random_input: Callable[..., Any]
    """(space, batch_size, seed) -> a valid random input batch (export checks)."""
    predict: Callable[..., list[str]]
    """(subnet, *, inputs, prompt, max_tokens, temperature, seed) -> JSON lines for ``nas predict``."""
    data_files: Callable[[Mapping[str, Any]], list[str]] = lambda data_cfg: []
    """data_cfg -> the names of its fields that are paths (resolved relative to the config file)."""
    classifies: bool = False
    """True for kinds that give one class per example: ``nas eval`` and the model card then
    show per-class accuracy and a confusion matrix (:func:`supernet.tasks.labelled.breakdown`)."""


_REGISTRY: dict[str, Task] = {}


def register(task: Task, *names: str) -> Task:
    """Registers ``task`` under ``names`` (the values of ``task.kind`` that select it)."""
    for name in names:
        _REGISTRY[name] = task
    return task


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(space_or_task: SearchSpace | Mapping[str, Any]) -> Task:
    """The registered kind of a space (or a task block); its block checked."""
    task = space_or_task.task if isinstance(space_or_task, SearchSpace) else space_or_task
    where = f"space '{space_or_task.name}'" if isinstance(space_or_task, SearchSpace) else "task"
    kind = task.get("kind") if task else None
    if kind not in _REGISTRY:
        raise NasError(f"{where}: field 'task.kind' is {kind!r}; known kinds: {names()}")
    t = _REGISTRY[kind]
    t.check(task, where)
    return t
