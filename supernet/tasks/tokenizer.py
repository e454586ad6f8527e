"""Tokenizers of the text tasks: byte-level BPE (``tokenizers``) or 7-bit ASCII characters.

* ``bpe``: a byte-level BPE (Radford et al., 2019, the GPT-2 tokenizer; Sennrich
  et al., ACL 2016) trained with the ``tokenizers`` library on the training
  corpus, with ``<|endoftext|>`` as id 0 and the space's ``vocab_size``;
* a path to a user's ``tokenizer.json`` (any ``tokenizers`` model);
* ``ascii``: one id per character, 128 ids (the ``charlm`` demo).

A run keeps its tokenizer as ``tokenizer.json`` in its home folder (the training
workdir, or an exported bundle), so evaluation, export and generation decode
with exactly the tokenizer the model was trained with.  Trained tokenizers of
built-in corpora are cached under ``$NAS_CACHE`` (default ``~/.cache/nas``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np

from search_spaces.errors import NasError
from supernet.cache import cache_dir

FILENAME = "tokenizer.json"
EOT = "<|endoftext|>"


class Tok(NamedTuple):
    """``encode(str) -> int32 ids``, ``decode(ids) -> str``, the vocabulary size and its JSON."""

    name: str
    vocab_size: int
    json: str | None  # the tokenizers JSON (None for ascii)

    def encode(self, text: str) -> np.ndarray:
        if self.json is None:
            codes = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8).astype(np.int32)
            return np.where(codes < 128, codes, ord("?")).astype(np.int32)
        return np.asarray(_rust(self.json).encode(text).ids, dtype=np.int32)

    def encode_many(self, texts: list[str]) -> list[np.ndarray]:
        if self.json is None:
            return [self.encode(t) for t in texts]
        return [np.asarray(e.ids, np.int32) for e in _rust(self.json).encode_batch(texts)]

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        if self.json is None:
            return "".join(chr(i) for i in ids)
        return _rust(self.json).decode(ids)

    def token_id(self, token: str) -> int | None:
        """The id of a whole token such as ``[MASK]`` (None when the vocabulary lacks it)."""
        return None if self.json is None else _rust(self.json).token_to_id(token)


_CACHE: dict[str, object] = {}


def _rust(js: str):
    from tokenizers import Tokenizer

    key = hashlib.sha1(js.encode()).hexdigest()
    if key not in _CACHE:
        _CACHE[key] = Tokenizer.from_str(js)
    return _CACHE[key]


def ascii_tokenizer() -> Tok:
    return Tok("ascii", 128, None)


def from_json(js: str, *, where: str) -> Tok:
    try:
        tok = _rust(js)
    except Exception as e:  # tokenizers raises a bare Exception on bad JSON
        raise NasError(f"{where}: not a tokenizers JSON file ({str(e).splitlines()[0][:120]})") from None
    return Tok("json", int(tok.get_vocab_size()), js)


def load_file(path: str | Path, *, where: str = "field 'data.tokenizer'") -> Tok:
    p = Path(path)
    if not p.is_file():
        raise NasError(f"{where}: tokenizer file '{p}' does not exist")
    return from_json(p.read_text(encoding="utf-8"), where=f"{where} '{p}'")


def train_bpe(files: list[Path], *, vocab_size: int, specials: tuple[str, ...] = ()) -> Tok:
    """A byte-level BPE of ``vocab_size`` ids trained on ``files`` (UTF-8 text); ``<|endoftext|>``
    is id 0 and ``specials`` (e.g. ``[MASK]``) the ids after it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + 1 + len(specials):
        raise NasError(
            f"field 'task.vocab_size': a byte-level BPE needs at least {len(alphabet) + 1 + len(specials)} ids, "
            f"got {vocab_size}"
        )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=alphabet, special_tokens=[EOT, *specials], show_progress=False
    )
    tok.train([str(f) for f in files], trainer)
    return from_json(tok.to_str(), where="trained BPE")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def resolve(
    spec: str | None,
    *,
    vocab_size: int,
    home: Path | None,
    corpus: list[Path] | None,
    cache_key: str | None,
    specials: tuple[str, ...] = (),
) -> Tok:
    """The tokenizer of a run: the one saved in ``home`` if any, else ``spec``'s (and saves it there).

    ``spec`` is ``'ascii'``, ``'bpe'`` (trained on ``corpus`` with the special tokens
    ``specials`` after ``<|endoftext|>``; cached under ``cache_key`` when given) or a path to a ``tokenizer.json``.  A saved tokenizer that differs
    from an explicitly given file is an error, and the saved one is never overwritten.
    """
    spec = spec or "bpe"
    saved = home / FILENAME if home is not None else None
    if spec == "ascii":
        tok = ascii_tokenizer()
    elif saved is not None and saved.is_file():
        tok = load_file(saved, where=f"'{saved}'")
        if spec != "bpe" and load_file(spec).json != tok.json:
            raise NasError(
                f"field 'data.tokenizer': '{spec}' differs from the tokenizer '{saved}' this run was trained "
                "with (use a new workdir)"
            )
    elif spec == "bpe":
        cached = cache_dir() / "tokenizers" / f"{cache_key}.json" if cache_key else None
        if cached is not None and cached.is_file():
            tok = load_file(cached, where=f"cached tokenizer '{cached}'")
        else:
            if not corpus:
                raise NasError(
                    "field 'data.tokenizer': 'bpe' needs a text corpus to train on (give data.train)"
                )
            tok = train_bpe(corpus, vocab_size=vocab_size, specials=specials)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(cached, tok.json)
    else:
        tok = load_file(spec)
    if tok.vocab_size > vocab_size:
        raise NasError(
            f"field 'task.vocab_size': the tokenizer has {tok.vocab_size} ids, more than the space's {vocab_size}"
        )
    if saved is not None and tok.json is not None and not saved.is_file():
        saved.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(saved, tok.json)
    return tok


def data_files(data_cfg: Mapping[str, Any]) -> list[str]:
    """The fields of a text kind's data block that are paths: ``train``, ``val`` and a
    ``tokenizer`` file (not the built-in ``bpe`` / ``ascii``)."""
    files = [k for k in ("train", "val") if k in data_cfg]
    return files + (["tokenizer"] if data_cfg.get("tokenizer") not in (None, "bpe", "ascii") else [])
