"""``nas export``, ``nas predict`` and ``nas finetune``: ship and use chosen subnets."""

from __future__ import annotations

import argparse
import json

from nas.export.from_run import export_run  # noqa: F401 - the library function behind 'nas export'


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export subnets of a finished search as standalone bundles")
    p.add_argument("run_dir", help="a search run directory (see 'nas search'); with --verify, a bundle")
    p.add_argument(
        "--select",
        default="best",
        help="'best', 'pareto' or a constraint such as 'latency_ms[cpu-host]<=5' (default best)",
    )
    p.add_argument("--out", help="output folder (one bundle, or one sub-folder per subnet); required")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX artifact")
    p.add_argument(
        "--dtype",
        default="f32",
        help="what the weights are stored in: f32 (default) or bf16 (half the size; outputs within the "
        "weights' rounding of f32's)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="check the bundle RUN_DIR (or a folder of bundles) against its checksums; loads nothing",
    )
    p.set_defaults(func=cmd_export)

    q = sub.add_parser("predict", help="run an exported bundle on inputs, or continue a prompt (LMs)")
    q.add_argument("bundle")
    q.add_argument(
        "input",
        nargs="?",
        help="images: INPUT.npy / .json (N,H,W[,C]), an image or a folder of images; LMs: token ids (N,T); "
        "text kinds: a .txt (one text per line) or a JSON list of strings",
    )
    q.add_argument(
        "--prompt",
        "--text",
        dest="prompt",
        help="language models: a prompt to continue; masked LMs: a text whose [MASK]s to fill",
    )
    q.add_argument(
        "--max-tokens", "--chars", dest="max_tokens", type=int, default=64, help="tokens to generate (64)"
    )
    q.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); > 0 samples")
    q.add_argument("--seed", type=int, default=0, help="seed of the sampling with --temperature")
    q.set_defaults(func=cmd_predict)

    f = sub.add_parser("finetune", help="continue training an exported subnet on its task")
    f.add_argument("bundle")
    f.add_argument("--steps", type=int, required=True)
    f.add_argument("--lr", type=float, default=1e-3)
    f.add_argument("--batch-size", type=int, default=64)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-onnx", action="store_true")
    f.set_defaults(func=cmd_finetune)


def cmd_verify(path: str) -> int:
    from pathlib import Path

    from nas.export.from_run import SUBNET_PREFIX
    from nas.export.load import read_config, verify_bundle
    from search_spaces import NasError

    root = Path(path)
    bundles = [root]
    if root.is_dir() and not (root / "config.json").exists():  # a folder of bundles ('--select pareto')
        bundles = (
            sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(SUBNET_PREFIX)) or bundles
        )
    for b in bundles:
        config = read_config(b)
        files = verify_bundle(b, config)
        if not files:
            raise NasError(
                f"bundle '{b}': format_version {config['format_version']} has no checksum manifest, "
                "nothing to verify; export it again to add one"
            )
        print(f"{b}: ok, {len(files)} files match their sha256")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from search_spaces import NasError

    if args.verify:
        return cmd_verify(args.run_dir)
    if not args.out:
        raise NasError("field '--out': required (the folder to write the bundles to)")
    for path in export_run(
        args.run_dir, select=args.select, out=args.out, onnx=not args.no_onnx, dtype=args.dtype
    ):
        cfg = json.loads((path / "config.json").read_text())
        print(
            f"{path}: params {cfg['complexity']['params']}, measured "
            f"{cfg['measured_latency'].get('median_ms', float('nan')):.3f} ms, metrics {cfg['metrics']}"
        )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from nas.export.load import load_subnet
    from supernet import tasks

    sub = load_subnet(args.bundle)
    lines = tasks.get(sub.space).predict(
        sub,
        inputs=args.input,
        prompt=args.prompt,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        seed=args.seed,
    )
    for line in lines:
        print(line)
    return 0


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
