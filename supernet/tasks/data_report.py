"""What a run read: examples per class, the validation split, the files skipped and why.

A labelled task's ``load`` builds the report (:func:`labelled_report`); training prints
:func:`report_lines` when it starts and keeps the report as ``data.json`` in the run
(:data:`REPORT_FILE`), which ``nas export`` carries into the bundle's config and card.
:func:`evaluated_examples` is how many validation examples an evaluation really scores
(whole batches of at most ``eval_max_examples``), the number shown beside every accuracy.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

REPORT_FILE = "data.json"
_LISTED = 20  # skipped files named in the lines; data.json lists them all


def _per_class(y: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    counts = np.bincount(np.asarray(y, np.int64), minlength=len(classes))
    return {c: int(n) for c, n in zip(classes, counts, strict=False)}


def labelled_report(
    *,
    classes: Sequence[str] | None,
    num_classes: int,
    y_train: np.ndarray,
    y_val: np.ndarray,
    train_source: str,
    val_source: str,
    skipped: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The report of a labelled dataset (``classes`` None: ids as names)."""
    names = list(classes) if classes is not None else [str(i) for i in range(num_classes)]
    return {
        "classes": names,
        "train": {
            "source": train_source,
            "examples": int(len(y_train)),
            "per_class": _per_class(y_train, names),
        },
        "val": {"source": val_source, "examples": int(len(y_val)), "per_class": _per_class(y_val, names)},
        "skipped": [{"file": f, "reason": r} for f, r in skipped],
    }


def evaluated_examples(n_val: int, *, batch_size: int, max_examples: int | None) -> int:
    """The validation examples an evaluation scores: whole batches of the first ``max_examples``."""
    n = min(n_val, max_examples) if max_examples else n_val
    b = min(batch_size, n)
    return (n // b) * b if b else 0


def accuracy_note(n: int) -> str:
    """``on N validation examples (steps of 1/N)``: how coarse an accuracy is."""
    return f"on {n:,} validation example{'s' if n != 1 else ''}" + (f" (steps of {1 / n:.3g})" if n else "")


def _counts(per_class: dict[str, int]) -> str:
    return ", ".join(f"{c} {n:,}" for c, n in per_class.items())


def report_lines(report: dict[str, Any] | None) -> list[str]:
    """The report as the lines printed when training starts."""
    if not report:
        return []
    tr, va = report["train"], report["val"]
    separate = va["source"].startswith("data.val ")  # read from its own files, not split off
    total = tr["examples"] + (0 if separate else va["examples"])
    lines = [
        f"data: {len(report['classes'])} classes, {total:,} examples read from {tr['source']}",
        f"  training   {tr['examples']:>7,}: {_counts(tr['per_class'])}",
        f"  validation {va['examples']:>7,} ({va['source']}): {_counts(va['per_class'])}",
    ]
    skipped = report.get("skipped") or []
    if skipped:
        lines.append(f"  skipped {len(skipped):,} file{'s' if len(skipped) != 1 else ''}:")
        lines += [f"    {s['file']}: {s['reason']}" for s in skipped[:_LISTED]]
        if len(skipped) > _LISTED:
            lines.append(f"    and {len(skipped) - _LISTED:,} more (all in {REPORT_FILE})")
    return lines
