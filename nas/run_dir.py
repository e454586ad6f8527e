"""A search's run directory: the one place that reads and writes it.

::

    RUN_DIR/
      config.yaml     the checked search config, with the lag the run used
      history.jsonl   one record per finished evaluation, appended and fsynced as it arrives:
                      {"index", "arch", "metrics", "worker", "seconds", "time", "attempts"}
      state.json      the strategy's state (saved every few seconds and at the end)
      pareto.json     the feasible Pareto front, best first by the first objective
      best.json       the best config under all constraints and under each alone
      pareto.png, progress.png   (drawn by :mod:`nas.run_outputs`)

A run killed mid-write leaves at most a torn last line in ``history.jsonl``,
which is dropped on resume.  Any other damage (a line that is not a record, an
index that is not an integer in ``[0, budget)``, a record without ``arch`` or
``metrics``) is a :class:`NasError` naming the file and the line: a resumed
run never guesses.
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from search_spaces import ArchConfig
from search_spaces.errors import NasError

HISTORY, CONFIG, STATE, PARETO, BEST = (
    "history.jsonl",
    "config.yaml",
    "state.json",
    "pareto.json",
    "best.json",
)


def write_atomic(path: str | Path, text: str) -> None:
    """Writes through a temporary file and a rename, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---- history ---------------------------------------------------------------------------------
def _check_record(rec: Any, where: str, budget: int | None) -> dict:
    if not isinstance(rec, dict):
        raise NasError(f'{where}: expected a record {{"index", "arch", "metrics", ...}}, got {rec!r}'[:300])
    i = rec.get("index")
    if isinstance(i, bool) or not isinstance(i, int):
        raise NasError(f"{where}: field 'index': expected an integer, got {i!r}")
    if i < 0 or (budget is not None and i >= budget):
        bound = f" of the budget ({budget})" if budget is not None else ""
        raise NasError(f"{where}: field 'index': {i} is outside the run's proposals{bound}")
    if not isinstance(rec.get("arch"), dict):
        raise NasError(f"{where}: field 'arch': expected a mapping, got {rec.get('arch')!r}")
    try:
        ArchConfig.from_dict(rec["arch"])
    except Exception as e:  # noqa: BLE001 - any malformed arch, as one line
        raise NasError(f"{where}: field 'arch': not an architecture ({type(e).__name__}: {e})") from None
    m = rec.get("metrics")
    if not isinstance(m, dict) or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in m.values()
    ):
        raise NasError(f"{where}: field 'metrics': expected a mapping of metric -> number, got {m!r}")
    return rec


def read_history(run_dir: str | Path, *, budget: int | None = None) -> dict[int, dict]:
    """index -> record.  A torn last line (killed mid-write) is ignored; other damage is an error."""
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return {}
    if not path.is_file():
        raise NasError(f"'{path}' is not a file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise NasError(f"'{path}' cannot be read ({type(e).__name__})") from None
    lines = text.split("\n")
    out: dict[int, dict] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        torn = n == len(lines)  # the last line has no newline: written when the run was killed
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if torn:
                continue
            raise NasError(f"'{path}' line {n}: not JSON ({e.msg})") from None
        rec = _check_record(rec, f"'{path}' line {n}", budget)
        if rec["index"] in out:
            raise NasError(f"'{path}' line {n}: field 'index': {rec['index']} appears twice")
        out[rec["index"]] = rec
    return out


def records(run_dir: str | Path) -> list[dict]:
    """Every finished evaluation, in proposal order."""
    return [r for _, r in sorted(read_history(run_dir).items())]


def rewrite_history(run_dir: str | Path, recorded: Mapping[int, dict]) -> None:
    """``history.jsonl`` as exactly these records (drops a torn line before appending)."""
    lines = [json.dumps(r, sort_keys=True) + "\n" for _, r in sorted(recorded.items())]
    write_atomic(Path(run_dir) / HISTORY, "".join(lines))


def open_history(run_dir: str | Path):
    return open(Path(run_dir) / HISTORY, "a")  # noqa: SIM115 - the caller closes it


def append(fh, rec: dict) -> None:
    """One record, flushed and fsynced, so a kill loses no finished evaluation."""
    fh.write(json.dumps(rec, sort_keys=True) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


# ---- config and state ------------------------------------------------------------------------
def check_fresh(run_dir: str | Path) -> None:
    run_dir = Path(run_dir)
    if (run_dir / HISTORY).exists():
        raise NasError(f"run directory '{run_dir}' already holds a search; resume it with --resume {run_dir}")
    if run_dir.exists() and not run_dir.is_dir():
        raise NasError(f"--run-dir '{run_dir}' is a file, not a folder")


def load_config(run_dir: str | Path):
    """The SearchConfig a run was started with."""
    from nas import search_config

    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise NasError(f"--resume {run_dir}: no search there (config.yaml is missing)")
    return search_config.check(search_config.load_raw(path), source=f"run config '{path}'")


def write_config(run_dir: str | Path, raw: Mapping[str, Any]) -> None:
    write_atomic(Path(run_dir) / CONFIG, yaml.safe_dump(dict(raw), sort_keys=False))


def write_state(run_dir: str | Path, state) -> None:
    write_atomic(Path(run_dir) / STATE, json.dumps(state.to_dict()))


# ---- results ---------------------------------------------------------------------------------
def slim(rec: Mapping[str, Any]) -> dict:
    return {"index": rec["index"], "arch": rec["arch"], "metrics": rec["metrics"]}


def write_front(run_dir: str | Path, front: Sequence[dict], best: Mapping[str, Any]) -> None:
    run_dir = Path(run_dir)
    write_atomic(run_dir / PARETO, json.dumps([slim(r) for r in front], indent=1, sort_keys=True))
    write_atomic(run_dir / BEST, json.dumps(best, indent=1, sort_keys=True))
