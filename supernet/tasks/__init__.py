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
Shakespeare labelled by play), ``masked_lm`` (BERT's masked-LM pretraining of a
bidirectional encoder on the LM's corpora).

Adding a kind: write ``my_task.py`` with a module-level ``TASK = Task(...)`` and
call ``register(TASK, "my_kind")`` (see docs/own-data.md, "Adding a task kind").
"""

from __future__ import annotations

from supernet.tasks.api import Task, get, names, register

__all__ = ["Task", "get", "names", "register"]


def _register_builtins() -> None:
    from supernet.tasks import causal_lm, image_classification, masked_lm, text_classification

    register(image_classification.TASK, "vit", "image_classification")
    register(causal_lm.TASK, "lm", "causal_lm", "charlm")
    register(text_classification.TASK, "text_classification")
    register(masked_lm.TASK, "masked_lm")


_register_builtins()
