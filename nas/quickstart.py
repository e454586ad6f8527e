"""``nas quickstart``: the whole mission on one machine, every step resumable.

1. train a small ``vit-mnist`` supernet with complexity-aware sampling
   (ElasticViT, Tang et al., ICCV 2023) -- Orbax checkpoints, resumes;
2. latency: use the shipped ``cpu-host`` predictor when this CPU matches its
   fingerprint, else measure this CPU by active learning (the architectures the
   predictor is least sure of, stratified by FLOPs, until its cross-validated error
   stops falling; :mod:`predictors.active`; resumable JSONL) and fit a predictor;
3. evolutionary search on local Ray: maximize inherited accuracy, minimize
   predicted latency, under a chance constraint on latency (its calibrated 90 %
   upper bound) -- resumes from its history;
4. export the best subnet as a standalone bundle;
5. print a summary table with the paths to the plots.

Re-running the same command after a kill continues where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import ArchConfig, NasError, load_space

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.yaml"
SIZES = {  # steps, search budget, population, most measurements if the CPU is new (active learning)
    "small": (60, 16, 6, 12),
    "default": (600, 100, 16, 96),
}


def _say(msg: str, log_format: str = "human", **fields: Any) -> None:
    from nas.terminal import Terminal

    Terminal(log_format).say(f"[quickstart] {msg}", **fields)


def train_step(workdir: Path, steps: int, *, log_format: str = "human") -> dict:
    from nas.cli_train import train
    from nas.terminal import Terminal
    from supernet.config import load_config

    cfg = load_config(CONFIG, [f"steps={steps}", f"checkpoint_every={max(10, steps // 6)}"])
    _say(f"1/5 training the vit-mnist supernet for {steps} steps (complexity-aware sampling)", log_format)
    return train(cfg, workdir / "supernet", Terminal(log_format))


def latency_step(
    workdir: Path, n_measure: int, *, new_device: bool = False, log_format: str = "human"
) -> str:
    """Device name whose predictor the search will use (``new_device``: measure this CPU
    even when the shipped predictor's fingerprint matches it)."""
    from predictors.measure import fingerprint
    from predictors.registry import load as load_predictor

    here = fingerprint()
    try:
        shipped = load_predictor("cpu-host", space="vit-mnist")
        fp = shipped.meta["vit-mnist"].get("fingerprint", {})
    except NasError:
        shipped, fp = None, {}
    keys = ("cpu_model", "cpu_count", "machine", "jax_version")
    if not new_device and shipped is not None and fp and all(fp.get(k) == here.get(k) for k in keys):
        _say("2/5 this CPU matches the shipped 'cpu-host' latency predictor; using it", log_format)
        return "cpu-host"
    from nas.terminal import Terminal
    from predictors.active import active_campaign
    from predictors.dataset import fit_device

    root = workdir / "predictors"
    os.environ["NAS_PREDICTORS"] = str(root.resolve())
    _say(f"2/5 measuring up to {n_measure} architectures on this CPU ({here.get('cpu_model')}), actively",
         log_format)  # fmt: skip
    jsonl = workdir / "latency" / "measurements.jsonl"
    start = max(4, n_measure * 2 // 5)

    def report(h: dict) -> None:
        _say(
            f"    {h['n']} measured: {h['model']} cross-validated {h['cv_within10_pct']:.1f} % within +-10 %",
            log_format,
            **h,
        )

    active_campaign(
        load_space("vit-mnist"), device="local-cpu", out=str(jsonl), n_max=n_measure, start=start,
        step=max(2, start // 2), repeats=20, report=report, reporter=Terminal(log_format),
    )  # fmt: skip
    fit_device(jsonl, device="local-cpu", root=root, plot=workdir / "latency" / "heldout.png")
    return "local-cpu"


def search_step(
    workdir: Path,
    device: str,
    budget: int,
    population: int,
    workers: int | None,
    *,
    log_format: str = "human",
):
    import predictors
    from nas import runner, search_config

    space = load_space("vit-mnist")
    metric = f"latency_ms[{device}]"
    lat = predictors.load(device, space="vit-mnist").predict(space.sample_many(0, 500))
    bound = float(np.round(np.quantile(lat, 0.4), 3))  # a constraint that cuts off 60 % of the space
    # A chance constraint: the predictor's calibrated 90 % upper bound must meet it, so the
    # search cannot win by picking where the predictor is optimistic (nas/hw_metrics.py).
    chance = f"{metric}.q90"
    raw = {
        "space": "vit-mnist",
        "evaluators": [
            {"kind": "supernet", "workdir": str((workdir / "supernet").resolve())},
            {"kind": "latency", "device": device},
            {"kind": "complexity"},
        ],
        "objectives": [{"metric": "accuracy", "goal": "max"}, {"metric": metric, "goal": "min"}],
        "constraints": [f"{chance} <= {bound}"],
        "strategy": {"name": "evolution", "population": population},
        "budget": budget,
        "seed": 0,
        "workers": workers,
    }
    run_dir = workdir / "search"
    resume = (run_dir / "config.yaml").is_file()
    _say(
        f"3/5 evolutionary search on local Ray: {budget} subnets, constraint {chance} <= {bound} ms"
        + (" (resuming)" if resume else ""),
        log_format,
    )
    cfg = runner.load_run_config(run_dir) if resume else search_config.check(raw)
    from nas.run_outputs import val_examples, write_outputs
    from nas.terminal import Terminal, search_summary

    t0, start = time.time(), time.perf_counter()
    result = runner.run_search(cfg, run_dir, workers=workers, resume=resume, log_format=log_format)
    seconds = time.perf_counter() - start
    out = write_outputs(
        run_dir, result.records, cfg.objectives, cfg.constraints, hv_reference=result.config.hv_reference
    )
    new = sum(1 for r in result.records if r.get("time", 0) >= t0)
    Terminal(log_format).lines(
        search_summary(evaluations=len(result.records), new=new, seconds=seconds, hypervolume=out["hypervolume"],
                       run_dir=str(run_dir), best=out["best"].get("all constraints"),
                       metrics=[x.metric for x in (*cfg.objectives, *cfg.constraints)],
                       val_examples=val_examples(cfg))
    )  # fmt: skip
    return result, str(cfg.constraints[0])


def export_step(workdir: Path, *, log_format: str = "human") -> Path:
    from nas.export.from_run import export_run
    from nas.export.select import select_records

    out, run = workdir / "export" / "best", workdir / "search"
    (best,) = select_records(run, "best")[1]
    if (out / "config.json").is_file():  # bundles are written atomically: a config means a whole bundle
        prov = json.loads((out / "config.json").read_text()).get("provenance", {})
        if prov.get("search_index") == best["index"] and prov.get("search_run") == str(run.resolve()):
            _say(f"4/5 the best subnet is already exported to {out}", log_format)
            return out
    _say(f"4/5 exporting the best subnet to {out}", log_format)
    return export_run(run, select="best", out=out)[0]


def quickstart(
    workdir: str | Path = "runs/quickstart",
    *,
    size: str = "default",
    workers: int | None = None,
    new_device: bool = False,
    log_format: str = "human",
) -> dict:
    """Runs (or resumes) the whole pipeline in ``workdir``; returns the summary.

    ``log_format`` (:mod:`nas.terminal`): ``human`` bars, readable lines and a table;
    ``json`` one JSON object per line (every step's records, the summary last)."""
    if size not in SIZES:
        raise NasError(f"field '--size': {size!r} is not one of {sorted(SIZES)}")
    steps, budget, population, n_measure = SIZES[size]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    train_step(workdir, steps, log_format=log_format)
    device = latency_step(workdir, n_measure, new_device=new_device, log_format=log_format)
    result, constraint = search_step(workdir, device, budget, population, workers, log_format=log_format)
    bundle = export_step(workdir, log_format=log_format)
    cfg = json.loads((bundle / "config.json").read_text())
    summary: dict[str, Any] = {
        "architecture": cfg["arch"],
        "accuracy": cfg["metrics"].get("accuracy"),
        "params": cfg["complexity"]["params"],
        "flops": cfg["complexity"]["flops"],
        "predicted_ms": cfg["predicted_latency_ms"].get(device),
        "predicted_q90_ms": (cfg.get("predicted_latency_bounds_ms") or {}).get(device, {}).get("q90"),
        "measured_ms": cfg["measured_latency"].get("median_ms"),
        "measured_on_scale_ms": (cfg["measured_latency"].get("on_scale") or {}).get(device),
        "device": device,
        "constraint": constraint,
        "evaluations": len(result.records),
        "bundle": str(bundle),
        "plots": [
            str(p)
            for p in sorted((workdir / "search").glob("*.png")) + sorted((workdir / "latency").glob("*.png"))
        ],
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    print_summary(summary, log_format=log_format)
    return summary


def print_summary(s: dict, *, log_format: str = "human") -> None:
    from nas.tables import print_table
    from nas.terminal import Terminal

    _say("5/5 done", log_format)
    term = Terminal(log_format)
    term.record({"summary": s})
    if log_format != "human":
        return
    on_scale = s.get("measured_on_scale_ms")
    print_table(
        f"Best subnet under {s['constraint']}",
        [
            "inherited accuracy",
            "params",
            "FLOPs",
            f"predicted ms ({s['device']})",
            "90 % upper bound",
            "measured ms (here, now)",
            f"measured, on {s['device']}'s scale",
        ],
        [
            [
                f"{s['accuracy']:.4f}",
                f"{s['params']:,}",
                f"{s['flops']:,}",
                f"{s['predicted_ms']:.3f}",
                "n/a" if s.get("predicted_q90_ms") is None else f"{s['predicted_q90_ms']:.3f}",
                f"{s['measured_ms']:.3f}",
                "n/a" if on_scale is None else f"{on_scale:.3f}",
            ]
        ],
    )
    term.lines(
        [
            f"architecture: {ArchConfig.from_dict(s['architecture']).short()}",
            f"bundle: {s['bundle']}  (nas predict / nas finetune work on it)",
            *(f"plot: {p}" for p in s["plots"]),
        ]
    )
