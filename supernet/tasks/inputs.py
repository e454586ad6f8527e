"""Reading and checking what users hand to ``nas predict`` and to training (shared by the kinds).

Arrays come from ``.npy`` (never pickled objects) or JSON; every problem is one
line naming the field and the value, and nothing non-finite reaches a model or
an output line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces.errors import NasError


def read_array(path: str | Path, *, field: str = "input") -> np.ndarray:
    """A numeric array from ``.npy`` or a JSON (nested) list of numbers."""
    p = Path(path)
    if not p.is_file():
        raise NasError(f"field '{field}': file '{p}' does not exist")
    if p.suffix == ".npy":
        try:
            x = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise NasError(f"field '{field}': '{p}' is not a plain .npy array ({e})") from None
    else:
        try:
            obj = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise NasError(f"field '{field}': '{p}' is neither .npy nor a JSON array ({e})") from None
        try:
            x = np.asarray(obj)
        except ValueError:
            raise NasError(f"field '{field}': '{p}' holds rows of different lengths") from None
    return check_numeric(x, field=field, source=str(p))


def check_numeric(x: Any, *, field: str, source: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise NasError(f"field '{field}': '{source}' must hold numbers, got dtype {x.dtype}")
    if x.size == 0:
        raise NasError(f"field '{field}': '{source}' is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0].tolist()
        raise NasError(f"field '{field}': '{source}' has a non-finite value at index {bad}")
    return x


def check_labels(y: Any, *, num_classes: int, field: str, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise NasError(
            f"field '{field}': labels in '{source}' must be a 1-D integer array, got {y.dtype} {y.shape}"
        )
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        v = int(y.min()) if y.min() < 0 else int(y.max())
        raise NasError(
            f"field '{field}': label {v} in '{source}' is outside [0, {num_classes}) (task.num_classes)"
        )
    return y.astype(np.int32)


def read_texts(inputs: str | None, prompt: str | None, *, what: str = "texts") -> list[str]:
    """The texts ``nas predict`` runs on: ``--prompt`` TEXT, or each line of a .txt file, or
    each string of a JSON list."""
    if prompt is not None:
        return [prompt]
    if inputs is None:
        raise NasError(
            f"field 'input': give --prompt TEXT, a .txt file (one text per line) or a JSON list of {what}"
        )
    p = Path(inputs)
    if not p.is_file():
        raise NasError(f"field 'input': file '{p}' does not exist")
    if p.suffix == ".json":
        try:
            texts = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise NasError(f"field 'input': '{p}' is not JSON ({e.msg})") from None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise NasError(f"field 'input': '{p}' must hold a JSON list of strings")
    else:
        texts = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not texts:
        raise NasError(f"field 'input': '{p}' holds no texts")
    return texts


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(-1, keepdims=True)


def class_lines(
    logits: np.ndarray, labels: list[str] | None = None, names: list[str] | None = None
) -> list[str]:
    """One JSON line per row: class id, probability (and its label name, and the input's name)."""
    out = []
    for i, p in enumerate(softmax_rows(np.asarray(logits, np.float64))):
        c = int(p.argmax())
        rec: dict[str, Any] = {"class": c, "prob": round(float(p[c]), 4)}
        if labels:
            rec["label"] = labels[c]
        if names:
            rec["input"] = names[i]
        out.append(json.dumps(rec))
    return out


def split(n: int, *, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices of a fixed seeded split."""
    if not 0 < val_fraction < 1:
        raise NasError(f"field 'data.val_fraction': must be in (0, 1), got {val_fraction!r}")
    perm = np.random.default_rng(seed).permutation(n)
    k = max(1, int(round(n * val_fraction)))
    if k >= n:
        raise NasError(f"field 'data.train': {n} examples are too few to split off a validation set")
    return perm[k:], perm[:k]
