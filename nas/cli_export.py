"""``nas export``, ``nas predict`` and ``nas finetune``: ship and use chosen subnets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas.hw_metrics import parse as parse_hw
from search_spaces import NasError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export subnets of a finished search as standalone bundles")
    p.add_argument("run_dir", help="a search run directory (see 'nas search')")
    p.add_argument(
        "--select",
        default="best",
        help="'best', 'pareto' or a constraint such as 'latency_ms[cpu-host]<=5' (default best)",
    )
    p.add_argument("--out", required=True, help="output folder (one bundle, or one sub-folder per subnet)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX artifact")
    p.set_defaults(func=cmd_export)

    q = sub.add_parser("predict", help="run an exported bundle on inputs (.npy or .json array, or --text)")
    q.add_argument("bundle")
    q.add_argument("input", nargs="?", help="INPUT.npy / INPUT.json: images (N,28,28[,1]) or token ids (N,T)")
    q.add_argument("--text", help="character LMs: a prompt to continue")
    q.add_argument("--chars", type=int, default=80, help="characters to generate with --text (greedy)")
    q.set_defaults(func=cmd_predict)

    f = sub.add_parser("finetune", help="continue training an exported subnet on its task")
    f.add_argument("bundle")
    f.add_argument("--steps", type=int, required=True)
    f.add_argument("--lr", type=float, default=1e-3)
    f.add_argument("--batch-size", type=int, default=64)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-onnx", action="store_true")
    f.set_defaults(func=cmd_finetune)


def export_run(run_dir: str | Path, *, select: str, out: str | Path, onnx: bool = True) -> list[Path]:
    """Exports the selected subnets of a search run; returns the bundle paths."""
    from nas.export.bundle import write_bundle
    from nas.export.select import select_records, supernet_workdir
    from supernet import checkpoint
    from supernet.extract import extract

    cfg, records = select_records(run_dir, select)
    workdir = supernet_workdir(cfg)
    space, params, train_cfg = checkpoint.load(workdir)
    if space.to_dict() != cfg.space.to_dict():
        raise NasError(
            f"supernet '{workdir}' was trained on space '{space.name}', but the search used "
            f"'{cfg.space.name}' with other dimensions"
        )
    out = Path(out)
    paths = []
    for r in records:
        arch = space.parse(r["arch"])
        target = out if len(records) == 1 else out / f"subnet-{r['index']:05d}"
        metrics = {k: v for k, v in r["metrics"].items() if parse_hw(k) is None}
        latency, bounds = predicted_latency(space, arch, r["metrics"])
        provenance = {
            "search_run": str(Path(run_dir).resolve()),
            "search_index": r["index"],
            "search_seed": cfg.seed,
            "supernet_checkpoint": str(Path(workdir).resolve()),
            "supernet_step": train_cfg.get("restored_step"),
            "supernet_seed": train_cfg.get("seed"),
        }
        paths.append(
            write_bundle(
                target,
                space=space,
                arch=arch,
                variables=extract(params, arch, space=space),
                provenance=provenance,
                metrics=metrics,
                predicted_latency_ms=latency,
                onnx=onnx,
                extra={"predicted_latency_bounds_ms": bounds} if bounds else None,
            )
        )
    return paths


def predicted_latency(space, arch, metrics: dict) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """({device: mean ms}, {device: {"q90": bound ms, ...}}) of a searched arch: the search's
    values, plus the 0.9 bound of every device whose predictor has calibrated intervals."""
    from nas.hw_metrics import fill_latency, metric_name

    mean: dict[str, float] = {}
    bounds: dict[str, dict[str, float]] = {}
    for k, v in metrics.items():
        h = parse_hw(k)
        if h is None:
            continue
        if h.q is None:
            mean[h.device] = float(v)
        else:
            bounds.setdefault(h.device, {})[k.rsplit(".", 1)[1]] = float(v)
    for dev in mean:
        if "q90" not in bounds.get(dev, {}):
            try:
                (v,) = fill_latency(space, [arch], metric_name("latency_ms", dev, 0.9))
            except NasError:  # a predictor fitted without calibration scores
                continue
            bounds.setdefault(dev, {})["q90"] = float(v)
    return mean, bounds


def cmd_export(args: argparse.Namespace) -> int:
    for path in export_run(args.run_dir, select=args.select, out=args.out, onnx=not args.no_onnx):
        cfg = json.loads((path / "config.json").read_text())
        print(
            f"{path}: params {cfg['complexity']['params']}, measured "
            f"{cfg['measured_latency'].get('median_ms', float('nan')):.3f} ms, metrics {cfg['metrics']}"
        )
    return 0


def _read_input(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise NasError(f"input file '{p}' does not exist")
    if p.suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as e:
            raise NasError(f"input file '{p}' is not a plain .npy array ({e})") from None
    try:
        return np.asarray(json.loads(p.read_text()))
    except json.JSONDecodeError as e:
        raise NasError(f"input file '{p}' is neither .npy nor a JSON array: {e.msg}") from None


def cmd_predict(args: argparse.Namespace) -> int:
    from nas.export.load import load_subnet

    sub = load_subnet(args.bundle)
    task = sub.space.task
    if args.text is not None:
        if task["kind"] != "charlm":
            raise NasError(
                f"field '--text': bundle '{args.bundle}' is a {task['kind']} model, not a character LM"
            )
        print(generate(sub, args.text, args.chars))
        return 0
    if args.input is None:
        raise NasError("field 'input': give INPUT.npy / INPUT.json (or --text for a character LM)")
    x = _read_input(args.input)
    if task["kind"] == "vit":
        side = task["image_size"]
        if x.size % (side * side) or x.ndim < 2:
            raise NasError(f"field 'input': expected images of shape (N, {side}, {side}[, 1]), got {x.shape}")
        x = x.reshape(-1, side, side, task["channels"]).astype(np.float32)
        if x.max() > 1.0:
            x = x / 255.0
        logits = sub(x)
        for row in logits:
            p = np.exp(row - row.max())
            p /= p.sum()
            print(json.dumps({"class": int(row.argmax()), "prob": round(float(p.max()), 4)}))
    else:
        if x.ndim != 2 or x.shape[1] > task["seq_len"] or not np.issubdtype(x.dtype, np.integer):
            raise NasError(
                f"field 'input': expected integer token ids of shape (N, <= {task['seq_len']}), "
                f"got {x.dtype} {x.shape}"
            )
        if x.min() < 0 or x.max() >= task["vocab_size"]:
            raise NasError(
                f"field 'input': token ids must be in [0, {task['vocab_size']}), got {x.min()}..{x.max()}"
            )
        logits = sub(x.astype(np.int32))
        for row in logits[:, -1]:
            print(json.dumps({"next_token": int(row.argmax())}))
    return 0


def generate(sub, prompt: str, n: int) -> str:
    """Greedy continuation of ``prompt`` by a character LM bundle."""
    T = sub.space.task["seq_len"]
    ids = [min(ord(c), 127) if ord(c) < 128 else ord("?") for c in prompt] or [ord("\n")]
    for _ in range(max(n, 0)):
        window = np.asarray([ids[-T:]], dtype=np.int32)
        ids.append(int(sub(window)[0, -1].argmax()))
    return "".join(chr(i) for i in ids)


def cmd_finetune(args: argparse.Namespace) -> int:
    from nas.export.finetune import finetune

    rec = finetune(
        args.bundle,
        steps=args.steps,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        onnx=not args.no_onnx,
    )
    for k in rec["after"]:
        print(f"{k}: {rec['before'][k]:.4f} -> {rec['after'][k]:.4f} after {rec['steps']} steps")
    return 0
