"""The data of a run, whatever its task: a thin layer over the task kind's own pipeline.

``load(space, data_cfg, home=...)`` asks the space's task kind
(:mod:`supernet.tasks`) to read its data: the kind's built-in dataset when
``data_cfg`` is empty, else the user's files named there.

**Data position.** Training batches are a pure function of ``(seed, step)``
(a counter-based sampler: ``np.random.default_rng([seed, step])`` draws the
batch's example indices or window starts), so the data position of a run is its
step number, stored in every checkpoint, and a resumed run sees exactly the
batches an uninterrupted run sees, for in-memory arrays and memmapped token
files alike.  See docs/design.md for why this and not a ``grain`` iterator.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from search_spaces import SearchSpace
from supernet import tasks
from supernet.tasks.data_report import REPORT_FILE, report_lines  # noqa: F401  (re-exported)
from supernet.tasks.image_classification import mnist  # noqa: F401  (the built-in default data)

# files a run keeps beside its checkpoints that an exported bundle needs too
RUN_FILES = ("tokenizer.json", "classes.json")


class Dataset(NamedTuple):
    """A task kind and the data its ``load`` returned."""

    task: tasks.Task
    data: Any


def load(
    space: SearchSpace, data_cfg: Mapping[str, Any] | None = None, *, home: str | Path | None = None
) -> Dataset:
    """The data of ``space``'s task (the built-in dataset when ``data_cfg`` is empty)."""
    task = tasks.get(space)
    return Dataset(task, task.load(space, dict(data_cfg or {}), home=Path(home) if home else None))


def report(ds: Dataset) -> dict[str, Any] | None:
    """What the task read (:mod:`supernet.tasks.data_report`), None for kinds without a report."""
    return getattr(ds.data, "report", None)


def save_report(ds: Dataset, home: str | Path) -> dict[str, Any] | None:
    """Writes :func:`report` as ``data.json`` in the run ``home`` (when there is one); returns it."""
    rep = report(ds)
    if rep is not None:
        (Path(home) / REPORT_FILE).write_text(json.dumps(rep, indent=1))
    return rep


def read_report(home: str | Path) -> dict[str, Any] | None:
    """The ``data.json`` a run's training wrote, or None (runs before it, other kinds)."""
    path = Path(home) / REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def evaluated_size(home: str | Path) -> int | None:
    """How many validation examples the run's evaluations score (whole batches of at most
    ``eval_max_examples`` of its ``data.json``), or None for a run without one."""
    from supernet.tasks.data_report import evaluated_examples

    report, cfg_file = read_report(home), Path(home) / "config.json"
    if report is None or not cfg_file.is_file():
        return None
    cfg = json.loads(cfg_file.read_text())
    n = report["val"]["examples"]
    return evaluated_examples(n, batch_size=cfg["eval_batch_size"], max_examples=cfg.get("eval_max_examples"))


def train_batch(
    ds: Dataset,
    *,
    step: int,
    batch_size: int,
    seed: int,
    seq_len: int | None = None,
    rows: slice | None = None,
):
    """Batch number ``step`` of the training stream: ``(x, y)``; a pure function of its arguments.

    ``rows``: only those rows of the batch, read alone (a process's share of a global batch: the
    batch's indices are drawn whole, so every process agrees on it, and each reads its rows; a
    kind whose train_batch takes no ``rows`` makes the whole batch, then keeps the rows)."""
    if rows is None:
        return ds.task.train_batch(ds.data, step=step, batch_size=batch_size, seed=seed)
    if "rows" not in inspect.signature(ds.task.train_batch).parameters:  # a kind that draws per batch
        x, y = ds.task.train_batch(ds.data, step=step, batch_size=batch_size, seed=seed)
        return x[rows], y[rows]
    return ds.task.train_batch(ds.data, step=step, batch_size=batch_size, seed=seed, rows=rows)


def val_batches(ds: Dataset, *, batch_size: int, seq_len: int | None = None, max_examples: int | None = None):
    """The fixed validation split as a list of ``(x, y)`` batches of equal size (remainder dropped)."""
    return ds.task.val_batches(ds.data, batch_size=batch_size, max_examples=max_examples)
