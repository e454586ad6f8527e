"""Labelled examples held as arrays in memory (images, token ids): batching and metrics
shared by the classification kinds.

A training batch is a pure function of (seed, step), so a resumed run draws exactly
the batches it would have drawn (the step is in every checkpoint); the validation
batches are the fixed validation split in order, whole batches only.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def train_batch(
    data: Any, *, step: int, batch_size: int, seed: int, rows: slice | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` examples of ``data.x_train`` / ``data.y_train`` drawn by (seed, step);
    ``rows``: only those rows of that batch are read (a process's share of a global batch)."""
    rng = np.random.default_rng([seed, step])
    idx = rng.choice(len(data.x_train), size=batch_size, replace=batch_size > len(data.x_train))
    if rows is not None:
        idx = idx[rows]
    return data.x_train[idx], data.y_train[idx]


def val_batches(data: Any, *, batch_size: int, max_examples: int | None = None) -> list:
    """The first ``max_examples`` of ``data.x_val`` / ``data.y_val`` as whole batches."""
    x, y = data.x_val[:max_examples], data.y_val[:max_examples]
    batch_size = min(batch_size, len(x))
    n = (len(x) // batch_size) * batch_size
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, n, batch_size)]


def metrics(loss: float, accuracy: float) -> dict[str, float]:
    return {"accuracy": accuracy, "loss": loss}


def breakdown(y: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Per-class accuracy and the confusion matrix of predictions ``pred`` of labels ``y``.

    ``{"examples": n, "accuracy": a, "accuracy_step": 1/n, "per_class": {name: {"accuracy",
    "examples"}}, "confusion": {"classes": names, "matrix": rows = true class, columns =
    predicted}}``; a class without validation examples has accuracy None."""
    y, pred = np.asarray(y, np.int64).ravel(), np.asarray(pred, np.int64).ravel()
    k = len(classes)
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (y, pred), 1)
    n = int(len(y))
    per = {}
    for i, name in enumerate(classes):
        total = int(matrix[i].sum())
        per[name] = {"accuracy": float(matrix[i, i] / total) if total else None, "examples": total}
    return {
        "examples": n,
        "accuracy": float(np.trace(matrix) / n) if n else 0.0,
        "accuracy_step": 1.0 / n if n else None,
        "per_class": per,
        "confusion": {"classes": list(classes), "matrix": matrix.tolist()},
    }
