"""``nas latency``: measure on this device, fit, list and query latency predictors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas import terminal
from search_spaces import ArchConfig, NasError, load_space


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("latency", help="measure, fit, list and query per-device latency predictors")
    s = p.add_subparsers(dest="latency_command", metavar="ACTION")
    s.required = True

    m = s.add_parser("measure", help="measure architectures stratified by FLOPs (resumable JSONL)")
    m.add_argument("--space", required=True)
    m.add_argument("--device", required=True, help="name for this device, e.g. my-laptop")
    m.add_argument("--n", type=int, default=300)
    m.add_argument("--out", required=True, help="FILE.jsonl (appended; re-run to resume)")
    m.add_argument("--backend", choices=["jax", "onnx"], default="jax")
    m.add_argument(
        "--batch", "--batch-size", dest="batch_size", type=int, default=1, help="batch size of the target"
    )
    m.add_argument("--seq-len", type=int, default=None, help="sequence length of the target (text spaces)")
    m.add_argument(
        "--provider",
        default=None,
        help="ONNX Runtime execution provider with --backend onnx, e.g. CUDAExecutionProvider",
    )
    m.add_argument(
        "--address",
        default=None,
        help="Ray cluster HEAD:6379: time on the node started with --resources '{\"device:DEVICE\": 1}'",
    )
    m.add_argument("--rounds", type=int, default=9, help="interleaved rounds over a group (median kept)")
    m.add_argument("--repeats", type=int, default=20, help="timed ~2 ms blocks per architecture per round")
    m.add_argument("--warmup", type=int, default=3)
    m.add_argument("--group", type=int, default=24, help="architectures compiled and timed together")
    m.add_argument(
        "--max-spread", type=float, default=0.1, help="re-measure if round IQR / median exceeds this"
    )
    m.add_argument("--retries", type=int, default=2, help="re-measurements of an unsteady architecture")
    m.add_argument(
        "--references",
        type=int,
        default=4,
        help="reference architectures timed in every group, to correct drift between groups",
    )
    m.add_argument(
        "--retry-unsteady", action="store_true", help="first re-measure unsteady records already in --out"
    )
    m.add_argument("--seed", type=int, default=0)
    terminal.add_flag(m)
    m.set_defaults(func=cmd_measure)

    f = s.add_parser("fit", help="fit predictors on measurements (JSONL of ours, or any CSV)")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--jsonl", help="measurements from 'nas latency measure'")
    src.add_argument("--csv", help="a CSV of features and targets from any tool")
    f.add_argument(
        "--features",
        help="CSV feature columns, comma separated (default: every other column); columns of names are one-hot encoded",
    )
    f.add_argument("--target", help="CSV target columns, comma separated (their sum is fitted)")
    f.add_argument("--device", help="save the fitted predictor under this device name")
    f.add_argument("--root", help="registry folder (default $NAS_PREDICTORS or ~/.nas/predictors)")
    f.add_argument(
        "--model",
        default="auto",
        help="auto (best by 5-fold cross-validation, repeated when within noise, of linear,poly2,trees,blend; "
        "linear,trees on architectures) or a comma list of linear,poly2,trees,blend,mlp,ensemble,hat_mlp",
    )
    f.add_argument("--test-fraction", type=float, default=0.1)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--plot", help="predicted-vs-measured scatter PNG (one per space with --jsonl)")
    f.set_defaults(func=cmd_fit)

    s.add_parser("list", help="devices with a fitted predictor").set_defaults(func=cmd_list)
    v = s.add_parser("verify", help="check a device's predictor files (schema, checksums); predicts nothing")
    v.add_argument("device")
    v.set_defaults(func=cmd_verify)

    c = s.add_parser(
        "calibrate",
        help="time a predictor's reference architectures now: this machine's speed factor (--check N: and score the predictor on N fresh architectures)",
    )
    c.add_argument("--device", required=True)
    c.add_argument("--space", required=True)
    c.add_argument("--rounds", type=int, default=9)
    c.add_argument(
        "--check",
        type=int,
        default=0,
        metavar="N",
        help="also time N fresh architectures and score the predictor on them (raw and on its scale)",
    )
    c.add_argument("--seed", type=int, default=1, help="seed of the --check architectures")
    c.add_argument(
        "--address",
        help="Ray cluster HEAD:6379: time on the node started with --resources '{\"device:DEVICE\": 1}'",
    )
    c.set_defaults(func=cmd_calibrate)

    q = s.add_parser("query", help="predicted latency (ms) of architectures")
    q.add_argument("--device", required=True)
    q.add_argument("--space", help="needed when the device covers several spaces an arch fits")
    g = q.add_mutually_exclusive_group(required=True)
    g.add_argument("--arch", help="ARCH.json (one object)")
    g.add_argument("--archs", help="FILE.jsonl (one architecture per line)")
    g.add_argument("--csv", help="rows.csv with the feature columns of a CSV-fitted device")
    g.add_argument("--row", help="one row of a CSV-fitted device: COLUMN=VALUE,...")
    q.add_argument("--level", type=float, default=0.9, help="coverage of the reported interval")
    q.set_defaults(func=cmd_query)


def _candidates(model: str, *, csv: bool) -> tuple[str, ...]:
    from predictors import models
    from predictors.fitting import ARCH_CANDIDATES, DEFAULT_CANDIDATES

    if model == "auto":
        return DEFAULT_CANDIDATES if csv else ARCH_CANDIDATES
    names = tuple(x.strip() for x in model.split(","))
    for n in names:
        models.get(n)
    return names


def cmd_measure(args: argparse.Namespace) -> int:
    import time

    from predictors.campaign import read_jsonl, remeasure_unsteady, run_campaign

    if args.n < 1:
        raise NasError(f"field '--n': must be >= 1, got {args.n}")
    if args.provider and args.backend != "onnx":
        raise NasError(f"field '--provider': {args.provider!r} needs --backend onnx")
    if args.seq_len is not None and args.seq_len < 1:
        raise NasError(f"field '--seq-len': must be >= 1, got {args.seq_len}")
    steady = dict(group=args.group, max_spread=args.max_spread, retries=args.retries)
    timing = dict(
        backend=args.backend,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        rounds=args.rounds,
        repeats=args.repeats,
        warmup=args.warmup,
    )
    if args.provider:
        timing["provider"] = args.provider
    term = terminal.Terminal(args.log_format)
    if args.address:
        from predictors.remote import remote_measure_fn

        steady["measure_fn"] = remote_measure_fn(args.device, address=args.address)
        node = steady["measure_fn"].node()
        term.say(f"measuring on node {node} (resource device:{args.device})", node=node)
    if args.retry_unsteady and Path(args.out).is_file():
        k = remeasure_unsteady(args.out, **steady, **timing)
        term.say(f"re-measured {k} unsteady architectures in {args.out}", remeasured=k)
    known = {json.dumps(r["arch"], sort_keys=True) for r in read_jsonl(args.out)}
    start = time.perf_counter()
    recs = run_campaign(
        args.space,
        device=args.device,
        n=args.n,
        out=args.out,
        seed=args.seed,
        references=args.references,
        reporter=term,
        **steady,
        **timing,
    )
    med = float(np.median([r["median_ms"] for r in recs])) if recs else float("nan")
    new = sum(json.dumps(r["arch"], sort_keys=True) not in known for r in recs)
    term.lines(
        terminal.campaign_summary(measured=len(recs), new=new, seconds=time.perf_counter() - start,
                                  out=args.out, median_ms=med, space=args.space)
    )  # fmt: skip
    term.record({"measured": len(recs), "new": new, "out": args.out, "space": args.space, "median_ms": med})
    return 0


def _print_scores(r: dict) -> None:
    """The candidates' 5-fold CV and held-out scores, the kept model and its interval's coverage."""
    scores, cv, best = r["scores"], r["cv"], r["best"]
    print(
        f"{'model':10s} {'CV within10%':>12s} {'within10%':>9s} {'within5%':>8s} {'MAPE%':>7s} "
        f"{'RMSE ms':>9s} {'tau':>6s}   (CV on train rows; the rest on held-out rows)"
    )
    for k, s in scores.items():
        mark = "  <- kept (best CV)" if k == best else ""
        print(
            f"{k:10s} {cv[k]['within10_pct']:12.1f} {s['within10_pct']:9.1f} {s['within5_pct']:8.1f} "
            f"{s['mape_pct']:7.2f} {s['rmse_ms']:9.4f} {s['kendall_tau']:6.3f}{mark}"
        )
    again = {k: v for k, v in cv.items() if "within10_repeats" in v}
    if again:
        n = max(len(v["within10_repeats"]) for v in again.values())
        print(
            f"within noise of each other, chosen by {n} repeated 5-fold splits (CV within10% mean ± sd): "
            + ", ".join(f"{k} {v['within10_mean']:.1f} ± {v['within10_sd']:.1f}" for k, v in again.items())
        )
    print(
        f"90 % interval covers {r['coverage90_pct']:.1f} % of {len(r['test_idx'])} held-out rows, "
        f"{r['coverage90_cv_pct']:.1f} % of all {len(r['train_idx']) + len(r['test_idx'])} rows "
        f"(nested 5-fold CV); kept model {'refitted on all rows' if r['refit'] else 'fitted on train rows'}"
    )


def cmd_fit(args: argparse.Namespace) -> int:
    from predictors.fitting import fit_and_score
    from predictors.metrics import scatter_plot

    cands = _candidates(args.model, csv=bool(args.csv))
    if args.csv:
        from predictors.tabular import load_table

        if not args.target:
            raise NasError("field '--target' is required with --csv")
        feats = [c.strip() for c in args.features.split(",") if c.strip()] if args.features else None
        tgts = [c.strip() for c in args.target.split(",") if c.strip()]
        X, y, cols = load_table(args.csv, feats, tgts)
        if cols.categories:
            print(
                f"categorical columns (one-hot): {', '.join(f'{k} {list(v)}' for k, v in cols.categories.items())}"
            )
        r = fit_and_score(X, y, candidates=cands, seed=args.seed, test_fraction=args.test_fraction)
        print(f"{args.csv}: {len(r['train_idx'])} train / {len(r['test_idx'])} test rows")
        _print_scores(r)
        if args.plot:
            print(f"plot: {scatter_plot(y[r['test_idx']], r['pred'], args.plot, title=Path(args.csv).stem)}")
        if args.device:
            from predictors.tabular import save_table

            js = save_table(r, args.csv, cols, tgts, device=args.device, root=args.root, seed=args.seed,
                            test_fraction=args.test_fraction)  # fmt: skip
            print(f"saved {js}")
        return 0
    from predictors.dataset import fit_device

    fit_device(
        args.jsonl,
        device=args.device,
        root=args.root,
        candidates=cands,
        seed=args.seed,
        test_fraction=args.test_fraction,
        plot=args.plot,
        report=_print_scores,
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from predictors import registry

    for dev in registry.list_devices():
        p = registry.load(dev)
        for name, meta in p.meta.items():
            m = meta.get("metrics", {})
            cov = (meta.get("interval") or {}).get("nested_cv_coverage_pct")
            cov = f"90% interval covers {cov:.1f}%" if cov is not None else "no interval"
            if meta.get("kind") == "table":
                src = f"CSV {Path(meta.get('csv', '?')).name} sha256 {meta.get('csv_sha256', '?')[:12]}, {len(meta['columns'])} columns"
            else:
                fp = meta.get("fingerprint", {})
                src = f"{fp.get('cpu_model', '?')} ({fp.get('backend', '?')}, batch {fp.get('batch_size', '?')})"
            print(
                f"{dev:14s} {name:22s} {meta['model']:9s} {m.get('within10_pct', float('nan')):5.1f}% within ±10%  "
                f"tau {m.get('kendall_tau', float('nan')):.3f}  {cov}  {src}"
            )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from predictors import registry

    for path, part in registry.verify(args.device):
        arrays = len(part.meta.get("arrays") or {})
        how = (
            f"{arrays} arrays match their sha256"
            if arrays
            else "npz sha256 matches (format < 3: no array manifest)"
        )
        print(f"{path}: ok, format {part.meta['format_version']}, {how}")
    return 0


def _read_archs(args: argparse.Namespace) -> list[ArchConfig]:
    path = Path(args.arch or args.archs)
    if not path.is_file():
        raise NasError(f"field '{'--arch' if args.arch else '--archs'}': no file {str(path)!r}")
    text = path.read_text()
    if args.arch:
        try:
            return [ArchConfig.from_json(text)]
        except NasError as e:
            raise NasError(f"{path}: {e}") from None
    archs = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                archs.append(ArchConfig.from_json(line))
            except NasError as e:
                raise NasError(f"{path} line {n}: {e}") from None
    return archs


def _interval(pred, level: float, mean: np.ndarray, part) -> tuple[np.ndarray, np.ndarray] | None:
    from predictors.registry import bounds

    return bounds(part, mean, level=level) if part.residuals is not None else None


def cmd_query(args: argparse.Namespace) -> int:
    import predictors
    from predictors.intervals import _check_q

    level = _check_q(args.level)
    pred = predictors.load(args.device, space=load_space(args.space) if args.space else None)
    key = f"interval{round(100 * level)}_ms"
    if args.csv or args.row:
        from predictors.tabular import query_rows

        if pred.table is None:
            raise NasError(
                f"field '--device': {args.device!r} predicts architectures of {pred.spaces}; "
                "query it with --arch or --archs"
            )
        rows, X = query_rows(pred.table.table_columns, csv_path=args.csv, row=args.row)
        mean, std = pred.table.predict_rows(X)
        iv = _interval(pred, level, mean, pred.table)
        for i, (row, m, s) in enumerate(zip(rows, mean, std, strict=True)):
            out = {"row": row, "latency_ms": round(float(m), 5), "std_ms": round(float(s), 5)}
            if iv is not None:
                out[key] = [round(float(iv[0][i]), 5), round(float(iv[1][i]), 5)]
            print(json.dumps(out))
        return 0
    archs = _read_archs(args)
    mean, std = pred.predict_with_uncertainty(archs)
    part = pred._part_for(archs)
    iv = _interval(pred, level, mean, part)
    peak = pred.predict_peak_mb(archs) if part.peak else None
    for i, (a, m, s) in enumerate(zip(archs, mean, std, strict=True)):
        out = {"arch": a.to_dict(), "latency_ms": round(float(m), 5), "std_ms": round(float(s), 5)}
        if iv is not None:
            out[key] = [round(float(iv[0][i]), 5), round(float(iv[1][i]), 5)]
        if peak is not None:
            out["peak_mb"] = round(float(peak[i]), 3)
        print(json.dumps(out))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """How much slower than during the device's campaign this machine runs now (one JSON line);
    with ``--check N`` also the predictor's scores on N fresh architectures."""
    from predictors.check import check_now, speed_now

    space = load_space(args.space)
    where: dict = {}
    if args.address:
        from predictors.remote import remote_measure_fn

        where["measure_fn"] = remote_measure_fn(args.device, address=args.address)
    if args.check:
        out = check_now(args.device, space, n=args.check, seed=args.seed, rounds=args.rounds, **where)
    else:
        out = speed_now(args.device, space, rounds=args.rounds, **where)
    if args.address:
        out["node"] = where["measure_fn"].node()
    print(json.dumps(out))
    return 0
