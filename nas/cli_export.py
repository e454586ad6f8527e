"""``nas export``, ``nas predict`` and ``nas finetune``: ship and use chosen subnets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas.export.from_run import export_run  # noqa: F401 - the library function behind 'nas export'
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
