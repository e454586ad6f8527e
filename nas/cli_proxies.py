"""``nas proxies``: score architectures with zero-cost proxies, and check a proxy against trained results.

``nas proxies score SPACE [--arch FILE | --sample N] --out FILE.jsonl`` writes one JSON line
per architecture, ``{"arch", "metrics": {proxy: value}, "space", "seconds"}`` (a ``table``
evaluator reads it as is).  ``nas proxies validate SCORES.jsonl RESULTS`` prints and writes
Kendall's tau and Spearman's rho, with 95 % bootstrap intervals, of every proxy in the scores
against a trained metric of RESULTS: a folder of JSON results (the fidelity study's
``standalone/`` units), a JSON-lines table (``{"arch", "metrics": {...}}`` or the metric at the
top level) or a CSV whose columns are the architecture's fields and the metric.  A metric to
minimize (loss, perplexity) is negated, so a positive tau means the proxy ranks well.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

from search_spaces import ArchConfig, NasError, load_space

LOWER_BETTER = ("loss", "perplexity", "error")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "proxies", help="zero-cost proxies: score architectures, validate against trained results"
    )
    s = p.add_subparsers(dest="proxies_command", metavar="ACTION")
    s.required = True
    sc = s.add_parser("score", help="proxy values of architectures as JSON lines")
    sc.add_argument("space", help="built-in name or YAML file")
    src = sc.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--arch",
        help="a JSON file (one architecture, a list, or JSON lines with 'arch') or a folder of results",
    )
    src.add_argument("--sample", type=int, help="score N architectures sampled uniformly (--seed)")
    sc.add_argument("--out", required=True, help="the JSON-lines file to write")
    sc.add_argument("--proxies", default=None, help="comma-separated names (default: the default set)")
    sc.add_argument("--seed", type=int, default=0, help="weights, batches and sampling seed (0)")
    sc.add_argument("--batches", type=int, default=1, help="fixed data batches (1)")
    sc.add_argument("--batch-size", type=int, default=16, help="examples per batch (16)")
    sc.add_argument("--seq-len", type=int, default=None, help="truncate token inputs (default: the context)")
    sc.set_defaults(func=cmd_score)
    va = s.add_parser("validate", help="Kendall tau and Spearman rho of each proxy against trained results")
    va.add_argument("scores", help="SCORES.jsonl written by 'nas proxies score'")
    va.add_argument("results", help="a folder of JSON results, a JSON-lines table or a CSV")
    va.add_argument(
        "--metric", default=None, help="the trained metric (default: perplexity, loss or accuracy)"
    )
    va.add_argument("--out", default=None, help="also write the table as JSON here")
    va.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (2000)")
    va.set_defaults(func=cmd_validate)


def _read_archs(path: str, space) -> list[ArchConfig]:
    p = Path(path)
    if p.is_dir():  # a folder of results (the fidelity study's units): each file's "arch", once
        archs = [space.parse(json.loads(f.read_text())["arch"]) for f in sorted(p.glob("*.json"))]
        return list(dict.fromkeys(archs))
    if not p.is_file():
        raise NasError(f"field '--arch': no file or folder {path!r}")
    text = p.read_text()
    try:
        obj = json.loads(text)
        items = obj if isinstance(obj, list) else [obj]
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise NasError(f"field '--arch': {path!r} is neither JSON nor JSON lines ({e.msg})") from None
    return [space.parse(i.get("arch", i) if isinstance(i, dict) else i) for i in items]


def cmd_score(args: argparse.Namespace) -> int:
    from supernet import proxies

    space = load_space(args.space)
    wanted = proxies.check_names(
        args.proxies.split(",") if args.proxies else list(proxies.DEFAULT), where="--proxies"
    )
    if args.sample is not None and args.sample < 1:
        raise NasError(f"field '--sample': expected an integer >= 1, got {args.sample}")
    archs = _read_archs(args.arch, space) if args.arch else space.sample_many(args.seed, args.sample)
    fn = proxies.scorer(
        space, wanted, seed=args.seed, batches=args.batches, batch_size=args.batch_size, seq_len=args.seq_len
    )
    fn(archs[:1])  # builds the probe (and the ensemble's reference) outside the timing
    rows = []
    for a in archs:
        t = time.perf_counter()
        (m,) = fn([a])
        rows.append((a, m, time.perf_counter() - t))
    proxies.check_finite([m for _, m, _ in rows], [a for a, _, _ in rows])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for a, m, sec in rows:
            f.write(
                json.dumps({"arch": a.to_dict(), "metrics": m, "space": args.space, "seconds": round(sec, 4)})
                + "\n"
            )
    print(f"scored {len(rows)} architectures with {', '.join(wanted)} -> {out}")
    return 0


def _scores(path: str) -> tuple[str, dict[str, dict[str, float]]]:
    p = Path(path)
    if not p.is_file():
        raise NasError(f"field 'scores': no file {path!r}")
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    if not rows or not all(isinstance(r, dict) and {"arch", "metrics", "space"} <= set(r) for r in rows):
        raise NasError(f"field 'scores': {path!r} is not a file written by 'nas proxies score'")
    space = load_space(rows[0]["space"])
    return rows[0]["space"], {space.parse(r["arch"]).to_json(): r["metrics"] for r in rows}


def read_results(path: str, space, metric: str | None) -> tuple[str, dict[str, float]]:
    """(metric, {arch JSON: value averaged over repeats}) of a results folder, JSON lines or CSV."""
    p = Path(path)
    if p.is_dir():
        items = [json.loads(f.read_text()) for f in sorted(p.glob("*.json"))]
    elif p.is_file() and p.suffix == ".csv":
        with p.open() as f:
            items = [_csv_row(r, space) for r in csv.DictReader(f)]
    elif p.is_file():
        items = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    else:
        raise NasError(f"field 'results': no file or folder {path!r}")
    flat = [
        {**(i.get("metrics") or {}), **{k: v for k, v in i.items() if k != "metrics"}}
        for i in items
        if isinstance(i, dict)
    ]
    if not flat or not all("arch" in i for i in flat):
        raise NasError(f"field 'results': {path!r} has no rows with an 'arch'")
    if metric is None:
        metric = next((m for m in ("perplexity", "loss", "accuracy") if m in flat[0]), None)
        if metric is None:
            raise NasError(f"field '--metric': {path!r} has none of perplexity, loss, accuracy; name one")
    acc: dict[str, list[float]] = {}
    for i in flat:
        if metric not in i:
            raise NasError(f"field '--metric': a row of {path!r} has no {metric!r}")
        try:
            arch = space.parse(i["arch"])
        except NasError as e:
            raise NasError(
                f"field 'results': an architecture of {path!r} is not in space '{space.name}' ({e})"
            ) from None
        acc.setdefault(arch.to_json(), []).append(float(i[metric]))
    return metric, {k: sum(v) / len(v) for k, v in acc.items()}


def _csv_row(row: dict, space) -> dict:
    arch, rest = {}, {}
    for k, v in row.items():
        try:
            val = json.loads(v)
        except (json.JSONDecodeError, TypeError):
            val = v
        (arch if k in space.global_dims or k in space.layer_dims or k == "depth" else rest)[k] = val
    return {"arch": arch, **rest}


def _fmt(s: dict) -> str:
    return "  n/a" if s["value"] is None else f"{s['value']:+.3f} [{s['lo']:+.2f}, {s['hi']:+.2f}]"


def cmd_validate(args: argparse.Namespace) -> int:
    from nas.rank_stats import kendall, spearman

    name, scores = _scores(args.scores)
    space = load_space(name)
    metric, truth = read_results(args.results, space, args.metric)
    common = [k for k in scores if k in truth]
    if len(common) < 3:
        raise NasError(f"field 'results': only {len(common)} of its architectures are in the scores (need 3)")
    sign = -1.0 if any(w in metric for w in LOWER_BETTER) else 1.0
    t = [sign * truth[k] for k in common]
    table = {}
    print(f"{len(common)} architectures; {'-' if sign < 0 else ''}{metric} vs each proxy (95 % bootstrap)")
    for proxy in scores[common[0]]:
        v = [scores[k][proxy] for k in common]
        if not all(math.isfinite(x) for x in v):
            raise NasError(f"field 'scores': proxy {proxy!r} has a value that is not finite")
        tau, rho = kendall(v, t, n_boot=args.n_boot), spearman(v, t, n_boot=args.n_boot)
        table[proxy] = {"kendall": tau, "spearman": rho}
        print(f"  {proxy:24s} tau {_fmt(tau)}   rho {_fmt(rho)}")
    if args.out:
        Path(args.out).write_text(
            json.dumps({"metric": metric, "n": len(common), "proxies": table}, indent=1)
        )
    return 0
