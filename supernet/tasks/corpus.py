"""Token streams of the language-model tasks: text files and folders, or nanoGPT token files.

* text: a ``.txt``/``.md`` file, or a folder of them (recursively, sorted), read
  as UTF-8, documents joined by a newline, tokenized once;
* tokens: a ``.bin`` file of raw uint16 (or ``dtype: uint32``) token ids, the
  nanoGPT ``train.bin`` / ``val.bin`` convention, opened with ``np.memmap`` and
  never loaded: a batch reads only its windows.

Training windows are drawn at random positions by a pure function of
``(seed, step)``; validation windows are consecutive and fixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search_spaces.errors import NasError

TEXT_SUFFIXES = {".txt", ".md", ".text", ".rst"}
TOKEN_SUFFIXES = {".bin"}


def text_files(path: Path, *, field: str) -> list[Path]:
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise NasError(f"field '{field}': folder '{path}' holds no text files ({sorted(TEXT_SUFFIXES)})")
        return files
    if not path.is_file():
        raise NasError(f"field '{field}': '{path}' does not exist")
    return [path]


def read_text(files: list[Path], *, field: str) -> str:
    parts = []
    for f in files:
        try:
            parts.append(f.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise NasError(f"field '{field}': '{f}' is not UTF-8 text (byte {e.start})") from None
    text = "\n".join(parts)
    if not text.strip():
        raise NasError(f"field '{field}': the corpus {[str(f) for f in files][:3]} is empty")
    return text


def tokenize(tok, text: str, *, chunk_lines: int = 2000) -> np.ndarray:
    """All token ids of ``text`` (int32), encoded in batches of lines (the tokenizer runs in parallel)."""
    lines = text.splitlines(keepends=True)
    parts = []
    for i in range(0, len(lines), chunk_lines):
        parts += tok.encode_many(lines[i : i + chunk_lines])
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def open_tokens(path: Path, *, dtype: str, vocab_size: int, field: str) -> np.ndarray:
    """A read-only memmap of a token file, its size and its largest id checked against the vocabulary."""
    if dtype not in ("uint16", "uint32"):
        raise NasError(f"field 'data.dtype': token files are 'uint16' or 'uint32', got {dtype!r}")
    if not path.is_file():
        raise NasError(f"field '{field}': token file '{path}' does not exist")
    item = np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size == 0 or size % item:
        raise NasError(
            f"field '{field}': '{path}' has {size} bytes, not a whole number of {dtype} tokens (data.dtype)"
        )
    mm = np.memmap(path, dtype=dtype, mode="r")
    top = 0
    for i in range(0, len(mm), 1 << 24):  # streamed: a file larger than memory is fine
        top = max(top, int(mm[i : i + (1 << 24)].max()))
    if top >= vocab_size:
        raise NasError(
            f"field '{field}': '{path}' holds token id {top}, outside the space's vocabulary of "
            f"{vocab_size} (task.vocab_size; or is data.dtype {dtype!r} wrong?)"
        )
    return mm


def check_length(tokens: np.ndarray, seq_len: int, *, field: str) -> None:
    if len(tokens) < seq_len + 2:
        raise NasError(
            f"field '{field}': {len(tokens)} tokens are too few for windows of {seq_len} + 1 tokens"
        )


def random_windows(
    tokens: np.ndarray, *, step: int, batch_size: int, seed: int, seq_len: int, rows: slice | None = None
):
    """Batch ``step``: ``batch_size`` windows at random positions (x, y = x shifted by one);
    ``rows``: only those windows of the batch are read."""
    rng = np.random.default_rng([seed, step])
    start = rng.integers(0, len(tokens) - seq_len - 1, size=batch_size)
    if rows is not None:
        start = start[rows]
    win = np.stack([np.asarray(tokens[s : s + seq_len + 1], dtype=np.int32) for s in start])
    return win[:, :-1], win[:, 1:]


def consecutive_windows(tokens: np.ndarray, *, seq_len: int, max_windows: int | None) -> tuple:
    n = (len(tokens) - 1) // seq_len
    if max_windows is not None:
        n = min(n, max_windows)
    win = np.stack([np.asarray(tokens[i * seq_len : i * seq_len + seq_len + 1], np.int32) for i in range(n)])
    return win[:, :-1], win[:, 1:]
