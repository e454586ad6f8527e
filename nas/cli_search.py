"""``nas search``: run or resume a search on Ray.

    nas search CONFIG.yaml [--set key=value ...] [--address HOST:PORT] [--workers N] [--run-dir DIR]
    nas search --resume RUN_DIR [--address HOST:PORT] [--workers N]

Without ``--address`` a local Ray is started and stopped by the command; with
it the search joins a cluster started by ``ray start --head``.  The terminal shows
a progress bar, the Pareto front and a summary; ``--log-format json`` prints every
result (the lines of ``history.jsonl``) and a summary object instead, one per line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nas import terminal
from search_spaces.errors import NasError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search a space on Ray; writes a run directory with the Pareto front")
    p.add_argument("config", nargs="?", help="search config YAML (see experiments/search_tabular.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set budget=50 --set strategy.population=30",
    )
    p.add_argument("--address", help="HOST:PORT of a Ray cluster started with 'ray start --head'")
    p.add_argument("--workers", type=int, help="Ray workers, one pinned core each (default: all CPUs)")
    p.add_argument("--run-dir", help="output directory (default runs/search-STRATEGY-seedN)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed search from its run directory")
    p.add_argument(
        "--placement-timeout",
        type=float,
        metavar="SECONDS",
        help="how long a Ray worker may wait for a node that can place it (a node lost mid-search) "
        "before the search goes on without it, or stops if none is left (default 300)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    terminal.add_flag(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from nas import run_outputs, runner, search_config

    if args.workers is not None and args.workers < 1:
        raise NasError(f"--workers: expected an integer >= 1, got {args.workers}")
    if args.placement_timeout is not None and not args.placement_timeout > 0:
        raise NasError(f"--placement-timeout: expected seconds > 0, got {args.placement_timeout:g}")
    if args.resume:
        if args.config or args.overrides:
            raise NasError("--resume RUN_DIR takes its config from the run directory; drop CONFIG and --set")
        run_dir = Path(args.resume)
        cfg = runner.load_run_config(run_dir)
    else:
        if not args.config:
            raise NasError("give a search CONFIG.yaml, or --resume RUN_DIR")
        cfg = search_config.load(args.config, args.overrides)
        run_dir = Path(args.run_dir or f"runs/search-{cfg.strategy}-seed{cfg.seed}")
    start, t0 = time.perf_counter(), time.time()
    result = runner.run_search(
        cfg,
        run_dir,
        address=args.address,
        workers=args.workers,
        resume=bool(args.resume),
        progress=not args.no_progress,
        log_format=args.log_format,
        placement_timeout=args.placement_timeout,
    )
    seconds = time.perf_counter() - start
    summary = run_outputs.write_outputs(
        run_dir, result.records, cfg.objectives, cfg.constraints, hv_reference=result.config.hv_reference
    )
    term = terminal.Terminal(args.log_format)
    best = summary["best"].get("all constraints")
    n_val = run_outputs.val_examples(cfg)
    if term.human:
        run_outputs.print_table(summary["front"], cfg.objectives, val_examples=n_val)
    new = sum(1 for r in result.records if r.get("time", 0) >= t0)  # evaluated (or cached) by this run
    term.lines(
        terminal.search_summary(evaluations=len(result.records), new=new, seconds=seconds,
                                hypervolume=summary["hypervolume"], run_dir=str(run_dir), best=best,
                                metrics=[x.metric for x in (*cfg.objectives, *cfg.constraints)],
                                val_examples=n_val)
    )  # fmt: skip
    term.record(
        {"evaluations": len(result.records), "hypervolume": summary["hypervolume"], "run_dir": str(run_dir),
         "best": best, "front": summary["front"]}
    )  # fmt: skip
    return 0
