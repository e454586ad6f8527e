"""Task kinds as plug-ins: everything task-specific lives in one module per kind.

A task kind is a :class:`Task`, a NamedTuple of pure functions (the optax
pattern), registered under one or more names with :func:`register`.  The space
names its kind in ``task.kind``; model, training, evaluation, export and CLI ask
:func:`get` for it and never switch on the name.  The model's shape (tokens,
input, output, head) is not the task's business here: it is stated by generic
keys of the task block and read by :mod:`search_spaces.geometry`, so that
``search_spaces`` (params, FLOPs) and ``predictors`` never import this package.

Built-in kinds: ``vit`` (alias ``image_classification``; MNIST, ``.npz``/``.npy``
arrays, image folders), ``lm`` (token-level causal LM, byte-level BPE, text files
or nanoGPT ``.bin`` token files) and ``charlm`` (the same LM on ASCII characters),
``text_classification`` (a bidirectional encoder; CSV / JSON lines, or lines of
Shakespeare labelled by play).

Adding a kind: write ``my_task.py`` with a module-level ``TASK = Task(...)`` and
call ``register(TASK, "my_kind")`` (see README, "Adding a task kind").
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


def _register_builtins() -> None:
    from supernet.tasks import causal_lm, image_classification, text_classification

    register(image_classification.TASK, "vit", "image_classification")
    register(causal_lm.TASK, "lm", "causal_lm", "charlm")
    register(text_classification.TASK, "text_classification")


_register_builtins()
