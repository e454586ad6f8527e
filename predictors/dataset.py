"""From a measurement JSONL to fitted, registered predictors (one per space in the file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from predictors import features as feats
from predictors.campaign import read_jsonl
from predictors.drift import corrected_latency, reference_levels
from predictors.fitting import ARCH_CANDIDATES, fit_and_score
from predictors.intervals import interval_meta
from predictors.registry import SpacePredictor, data_hash, save, user_root
from search_spaces import ArchConfig, NasError, load_space


def records_to_xy(records: Sequence[dict[str, Any]], space) -> tuple[np.ndarray, np.ndarray, dict]:
    """Feature matrix, latencies (ms) and the feature definition of one space's records.

    The latencies are the medians corrected for the machine's drift between measured
    groups (:func:`predictors.drift.corrected_latency`; raw medians where a file has no
    reference timings).
    """
    if not records:
        raise NasError(f"field 'records': no measurements of space '{space.name}'")
    fps = {(r["fingerprint"]["batch_size"], r["fingerprint"]["seq_len"]) for r in records}
    if len(fps) != 1:
        raise NasError(f"field 'records': mixed batch sizes / sequence lengths {sorted(fps, key=str)}")
    batch_size, seq_len = fps.pop()
    archs = [space.validate(ArchConfig.from_dict(r["arch"])) for r in records]
    X = feats.features(space, archs, batch_size=batch_size, seq_len=seq_len)
    y = corrected_latency(records)
    fdef = {
        "version": feats.FEATURE_VERSION,
        "names": feats.feature_names(space),
        "batch_size": batch_size,
        "seq_len": seq_len,
    }
    return X, y, fdef


def fit_device(
    jsonl: str | Path,
    *,
    device: str | None,
    root: str | Path | None = None,
    candidates: Sequence[str] = ARCH_CANDIDATES,
    seed: int = 0,
    test_fraction: float = 0.1,
    plot: str | Path | None = None,
    report: Callable[[dict], None] | None = None,
) -> list[Path]:
    """Fits every space found in ``jsonl``; saves under ``root/device`` when ``device`` is given.

    Everything is fitted and checked before anything is written.
    """
    from predictors.metrics import scatter_plot

    path = Path(jsonl)
    if not path.is_file():
        raise NasError(f"field '--jsonl': no file {str(path)!r}")
    records = read_jsonl(path)
    if not records:
        raise NasError(f"file '{path}': no measurements")
    by_space: dict[str, list] = {}
    for r in records:
        by_space.setdefault(r.get("space", "?"), []).append(r)
    parts = []
    for name, recs in sorted(by_space.items()):
        space = load_space(name)
        X, y, fdef = records_to_xy(recs, space)
        r = fit_and_score(X, y, candidates=candidates, seed=seed, test_fraction=test_fraction)
        if report:
            print(f"{name}: {len(r['train_idx'])} train / {len(r['test_idx'])} held-out architectures")
            report(r)
        fp = dict(recs[0]["fingerprint"])
        meta = {
            "features": fdef,
            "fingerprint": fp,
            "train_data_sha256": data_hash(X[r["train_idx"]], y[r["train_idx"]]),
            "n_train": int(len(r["train_idx"])),
            "metrics": r["scores"][r["best"]],
            "candidates": r["scores"],
            "cv": r["cv"],
            "refit_on_all_rows": r["refit"],
            "n_rows": int(len(y)),
            "interval": interval_meta(r),
            "split": {"seed": seed, "test_fraction": test_fraction},
            # The references' usual times: later timings beside them go on this scale.
            "references": reference_levels(recs),
        }
        peak = None
        if all(rec.get("peak_mb") for rec in recs):  # XLA's memory analysis, measured with the jax backend
            yp = np.array([float(rec["peak_mb"]) for rec in recs])
            rp = fit_and_score(
                X, yp, candidates=candidates, seed=seed, test_fraction=test_fraction, calibrate=False
            )
            peak = rp["params"]
            meta["peak_mb"] = {"model": rp["best"], "metrics": rp["scores"][rp["best"]], "cv": rp["cv"]}
            if report:
                m = meta["peak_mb"]["metrics"]
                print(
                    f"{name} peak memory: {rp['best']} {m['within10_pct']:.1f} % within +-10 %, "
                    f"MAPE {m['mape_pct']:.2f} % on held-out architectures"
                )
        parts.append(
            SpacePredictor(
                space=space,
                model=r["best"],
                params=r["params"],
                meta=meta,
                residuals=r["residuals"],
                peak=peak,
            )
        )
        if plot:
            p = Path(plot)
            out = p if len(by_space) == 1 else p.with_name(f"{p.stem}-{name}{p.suffix or '.png'}")
            title = f"{name} on {device or fp.get('cpu_model')}"
            print(f"plot: {scatter_plot(y[r['test_idx']], r['pred'], out, title=title)}")
    if not device:
        return []
    dest = Path(root) if root else user_root()
    return [save(dest, device, part) for part in parts]
