"""What a person sees in the terminal, and what a script reads instead.

Every long command (``nas train``, ``nas search``, ``nas latency measure``, ``nas
quickstart``) prints through a :class:`Terminal` of one of three formats
(``--log-format``):

* ``human`` (the default): a tqdm progress bar on stderr whose postfix holds the live
  figures (the loss and the sampler's bin, the best objective so far, the last
  measured median), readable lines on stdout, and a short aligned summary at the end.
  No JSON: the records a script wants are in the run's files (``metrics.jsonl``,
  ``history.jsonl``, the measurements' JSONL) whatever the format.
* ``json``: stdout holds only JSON objects, one per line: the records as they are
  written to those files, notes as ``{"message": ...}`` and a summary object at
  the end.  The bar is drawn only when stderr is a terminal, so a script that
  pipes both streams reads clean ones.
* ``quiet``: nothing at all.

The module only prints: callers write their files whatever the format.  A
:class:`Terminal` has the :class:`search_spaces.progress.Progress` shape, so the CLI hands
one to the trainer (:mod:`supernet.train`) and the campaign (:mod:`predictors.campaign`),
which report through it and never import this module: presentation lives on the top floor.
It imports nothing of the project at load time and nothing heavy (no JAX).
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Mapping, Sequence

FORMATS = ("human", "json", "quiet")


def check_format(fmt: str, *, field: str = "--log-format") -> str:
    """``fmt`` if it is one of :data:`FORMATS`, else a one-line error naming ``field``."""
    if fmt not in FORMATS:
        from search_spaces.errors import NasError

        raise NasError(f"field '{field}': {fmt!r} is not one of {', '.join(FORMATS)}")
    return fmt


def add_flag(parser: Any) -> None:
    """``--log-format {human,json,quiet}`` on an argparse parser."""
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="human",
        help="human (progress bar, readable lines, a summary; the default), json (one JSON "
        "object per line on stdout, for scripts) or quiet (nothing)",
    )


def number(v: Any) -> str:
    """A metric as a person reads it: 4 decimals below 1,000, thousands separators above."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if not math.isfinite(v):
        return str(v)
    if abs(v) < 1e3:
        return f"{v:.4f}"
    return f"{int(v):,}" if v.is_integer() else f"{v:,.1f}"


def postfix(fields: Mapping[str, Any]) -> str:
    """``loss 1.763, bin 3``: the scalar fields of a record (lists and dicts are left out)."""
    out = []
    for k, v in fields.items():
        if isinstance(v, float):
            out.append(f"{k} {v:.4g}")
        elif isinstance(v, (int, str)):
            out.append(f"{k} {v}")
    return ", ".join(out)


def aligned(rows: Sequence[Sequence[str]], *, indent: str = "  ", numbers: bool = True) -> list[str]:
    """Rows as lines with aligned columns: the first left-aligned, the others right-aligned
    (``numbers``) or left-aligned (label: text rows)."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    lines = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i and numbers else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


class Bar:
    """A progress bar that counts what this run did and how long it took."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.count, self.start = bar, 0, time.perf_counter()
        self.seconds = 0.0  # from the start to the last update
        self.first = 0.0  # from the start to the first update (a training step's first compile)

    def update(self, n: int = 1, **fields: Any) -> None:
        """Moves on by ``n``; ``fields`` (scalars) become the postfix."""
        if fields:
            self.bar.set_postfix_str(postfix(fields), refresh=False)
        self.bar.update(n)
        self.count += n
        self.seconds = time.perf_counter() - self.start
        if self.count == n:
            self.first = self.seconds

    def close(self) -> None:
        self.bar.close()


class Terminal:
    """Where one command's output goes; ``fmt`` is one of :data:`FORMATS`.

    stdout and stderr are looked up when printing, so redirections made after the
    terminal was built (pytest's capture, ``contextlib.redirect_stdout``) are followed.
    """

    def __init__(self, fmt: str = "human") -> None:
        self.fmt = check_format(fmt)
        self.last_bar: Bar | None = None  # the summary of a job reads its count and seconds

    @property
    def human(self) -> bool:
        return self.fmt == "human"

    def bar(self, *, total: int, desc: str, initial: int = 0, show: bool = True) -> Bar:
        """A bar on stderr: always in ``human`` format (unless ``show`` is false), in
        ``json`` only when stderr is a terminal, never in ``quiet``."""
        from tqdm import tqdm

        disable: bool | None = not show or self.fmt == "quiet" or (None if self.fmt == "json" else False)
        self.last_bar = Bar(tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, disable=disable))
        return self.last_bar

    def record(self, obj: Mapping[str, Any]) -> None:
        """A machine-readable record: one JSON line on stdout in ``json`` format only."""
        if self.fmt == "json":
            print(json.dumps(obj, sort_keys=True), file=sys.stdout, flush=True)

    def say(self, text: str, **fields: Any) -> None:
        """A readable line (``human``), or ``{"message": text, **fields}`` (``json``)."""
        if self.fmt == "human":
            _write(text)
        elif self.fmt == "json":
            self.record({"message": text, **fields})

    def lines(self, lines: Sequence[str]) -> None:
        """Readable lines (a summary) in ``human`` format only: ``json`` gets a record instead."""
        if self.fmt == "human":
            for ln in lines:
                _write(ln)


def _write(text: str) -> None:
    """A line on stdout that does not tear an open bar on the same terminal."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()


# ---- summaries ---------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    """``42.1 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def rate(count: int, seconds: float, unit: str, *, first: float | None = None) -> str:
    """``600 in 1 min 52 s, 5.36 steps/s`` (wall clock: compiles and start-up included);
    with ``first`` (the seconds of the first item) also the rate of the items after it."""
    if count <= 0:
        return f"no {unit} left to run"
    out = f"{count:,} in {duration(seconds)}"
    if seconds > 0:
        out += f", {count / seconds:.3g} {unit}/s"
    if first is not None and count > 1 and seconds > first:
        out += f", {(count - 1) / (seconds - first):.3g} after the first"
    return out


def training_summary(final: Mapping[str, Any], bar: Bar, *, metrics_file: str) -> list[str]:
    """The end of ``nas train``: steps, steps/s (also after the first step, which compiles),
    compiles, then the largest and smallest subnet's validation metrics in aligned
    columns, then where every logged step is."""
    results = final.get("final", {})
    names = sorted({k for m in results.values() for k in m})
    rows = [["subnet", *names]]
    for which in ("largest", "smallest"):
        if which in results:
            rows.append([which, *(number(results[which].get(k, "")) for k in names)])
    devices = final.get("devices", 1)
    head = (
        f"trained {final['step']:,} steps (this run: {rate(bar.count, bar.seconds, 'steps', first=bar.first)}); "
        f"{final.get('compiles', '?')} XLA compiles, {devices} device{'s' if devices != 1 else ''}"
    )
    n = final.get("val_examples")
    note = []
    if n:  # how coarse the accuracy is
        steps = f" (accuracy in steps of {1 / n:.3g})" if "accuracy" in names else ""
        note = [f"  on {n:,} validation examples{steps}"]
    return [head, *aligned(rows), *note, f"every logged step: {metrics_file}"]


def search_summary(
    *, evaluations: int, new: int, seconds: float, hypervolume: float, run_dir: str,
    best: Mapping[str, Any] | None, metrics: Sequence[str] | None = None, val_examples: int | None = None,
) -> list[str]:  # fmt: skip
    """The end of ``nas search``: evaluations and their rate, hypervolume, the best one that
    meets every constraint (its ``metrics``, default all, and its architecture), how many
    validation examples its accuracy stands on, the run directory."""
    rows = []
    if best is None:
        rows.append(["best", "no evaluated architecture meets all constraints"])
    else:
        m = best["metrics"]
        names = [k for k in dict.fromkeys(metrics) if k in m] if metrics is not None else sorted(m)
        rows.append(["best", ", ".join(f"{k} {number(m[k])}" for k in names)])
        rows.append(["", _short(best["arch"])])
        if val_examples and "accuracy" in m:
            rows.append(
                ["", f"accuracy on {val_examples:,} validation examples (steps of {1 / val_examples:.3g})"]
            )
    rows.append(["run directory", run_dir])
    head = (
        f"{evaluations:,} evaluations (this run: {rate(new, seconds, 'evaluations')}); "
        f"hypervolume {hypervolume:.6g}"
    )
    return [head, *aligned(rows, numbers=False)]


def campaign_summary(
    *, measured: int, new: int, seconds: float, out: str, median_ms: float, space: str
) -> list[str]:
    """The end of ``nas latency measure``: how many, how fast, their median, where."""
    return [
        f"{measured:,} architectures of {space} measured (this run: {rate(new, seconds, 'architectures')})",
        *aligned([["median", f"{median_ms:.3f} ms"], ["file", out]], numbers=False),
    ]


def _short(arch: Mapping[str, Any]) -> str:
    """An architecture dict as the search's tables show it (``d3 embed_dim=64 num_heads=2/4/2``)."""
    from search_spaces import ArchConfig

    return ArchConfig.from_dict(dict(arch)).short()
