"""``nas spaces``: list, show, sample and validate search spaces; derive one from a Hugging Face folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from search_spaces import NasError, builtin_names, complexity, load_space
from search_spaces.complexity import training_memory
from search_spaces.errors import InvalidArchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spaces", help="list, show, sample and validate search spaces")
    s = p.add_subparsers(dest="spaces_command", metavar="ACTION")
    s.required = True
    s.add_parser("list", help="the built-in spaces").set_defaults(func=cmd_list)
    show = s.add_parser("show", help="dimensions, size, smallest and largest config")
    show.add_argument("space", help="built-in name or YAML file")
    show.add_argument("--batch-size", type=int, default=8, help="batch of the training-memory estimate (8)")
    show.add_argument(
        "--seq-len", type=int, default=None, help="tokens of the estimate (default: the context)"
    )
    show.add_argument(
        "--precision",
        choices=("f32", "bf16"),
        default="f32",
        help="training precision of the estimate (a config's 'precision'; default f32)",
    )
    show.set_defaults(func=cmd_show)
    sample = s.add_parser("sample", help="uniform samples as JSON lines")
    sample.add_argument("space")
    sample.add_argument("-n", type=int, default=10, help="number of samples (default 10)")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=cmd_sample)
    val = s.add_parser("validate", help="check an architecture JSON file against a space")
    val.add_argument("space")
    val.add_argument("arch", help="ARCH.json (one object)")
    val.set_defaults(func=cmd_validate)
    hf = s.add_parser(
        "from-hf", help="write the YAML of an elastic space whose largest subnet is a HF Llama folder"
    )
    hf.add_argument("folder", help="a Hugging Face Llama folder (config.json + safetensors)")
    hf.add_argument("--out", required=True, help="the space YAML to write")
    hf.add_argument("--name", default=None, help="space name (default: the folder's name)")
    hf.add_argument(
        "--seq-len", type=int, default=None, help="context (default: min(2048, max_position_embeddings))"
    )
    hf.add_argument(
        "--per-model",
        action="store_true",
        help="one head count, KV-head count and MLP width per model (every subnet exports as a Llama)",
    )
    hf.set_defaults(func=cmd_from_hf)


def _fmt(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _complexity_line(
    space, arch, *, batch_size: int | None = None, seq_len: int | None = None, precision: str = "f32"
) -> str:
    try:
        c = complexity(space, [arch])
    except NasError:
        return ""
    line = f"  params {_fmt(c['params'][0])}  FLOPs {_fmt(c['flops'][0])} (batch 1)"
    line += f"  KV cache {c['kv_cache_mb'][0]:.1f} MiB (batch 1, full context, float32)"
    if batch_size is not None:
        m = training_memory(space, [arch], batch_size=batch_size, seq_len=seq_len, precision=precision)
        how = "float32" if precision == "f32" else "bfloat16 compute, float32 master weights and AdamW"
        line += (
            f"\n  training memory ~{_fmt(m['total_bytes'][0])}B at batch {batch_size} x {seq_len or 'full'} tokens "
            f"(weights+grads+AdamW {_fmt(m['state_bytes'][0])}B, activations {_fmt(m['act_bytes'][0])}B; {how})"
        )
    return line


def _checked_seq_len(space, seq_len: int | None) -> int | None:
    """``--seq-len`` for a token-id task (at most its context); images have a fixed token count."""
    from search_spaces.geometry import task_geometry

    try:
        geo = task_geometry(space)
    except NasError:
        return None
    if seq_len is None or not geo.lookup:
        return None
    if seq_len > geo.tokens:
        raise NasError(
            f"field '--seq-len': {seq_len} is longer than the space's context (task.seq_len {geo.tokens})"
        )
    return seq_len


def cmd_list(args: argparse.Namespace) -> int:
    for name in builtin_names():
        space = load_space(name)
        print(f"{name:22s} {space.size():>14,d} archs  {space.description}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or (args.seq_len is not None and args.seq_len < 1):
        raise NasError(
            f"field '--batch-size'/'--seq-len': must be >= 1, got {args.batch_size}, {args.seq_len}"
        )
    space = load_space(args.space)
    seq_len = _checked_seq_len(space, args.seq_len)
    print(f"space: {space.name}")
    if space.description:
        print(f"  {space.description}")
    print(f"max_depth: {space.max_depth}")
    for d in space.dimensions():
        scope = "per layer" if d.per_layer else "global"
        print(f"  {d.name:14s} {scope:9s} {list(d.choices)}")
    if space.task:
        print(f"task: {json.dumps(space.task, sort_keys=True)}")
    print(f"size: {space.size():,d} distinct architectures")
    for label, arch in (("smallest", space.smallest()), ("largest", space.largest())):
        print(f"{label}: {arch.to_json()}")
        line = _complexity_line(
            space, arch, batch_size=args.batch_size, seq_len=seq_len, precision=args.precision
        )
        if line:
            print(line)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    if args.n < 0:
        raise NasError(f"field '-n': must be >= 0, got {args.n}")
    space = load_space(args.space)
    for arch in space.sample_many(args.seed, args.n):
        print(arch.to_json())
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    path = Path(args.arch)
    if not path.is_file():
        raise NasError(f"architecture file '{path}' does not exist")
    try:
        arch = space.parse(path.read_text())
    except InvalidArchError as e:
        raise NasError(f"{path}: {e}") from None
    print(f"ok: {path} is in space '{space.name}'{_complexity_line(space, arch)}")
    return 0


def cmd_from_hf(args: argparse.Namespace) -> int:
    """Reads config.json (and checks every tensor's shape) before writing anything."""
    import yaml

    from supernet.pretrained import hf_llama, llama_layout

    folder = Path(args.folder)
    ckpt = hf_llama.read(folder, field="folder")  # a missing file, a non-Llama config or a misfit tensor: one line
    name = args.name or folder.resolve().name
    space = llama_layout.space_for(
        ckpt.config, name=name, seq_len=args.seq_len, per_model=args.per_model, source=f"{folder}/config.json"
    )
    llama_layout.check_fit(ckpt.shape, space, source=str(folder))
    out = Path(args.out)
    if out.is_dir():
        raise NasError(f"field '--out': '{out}' is a folder; give a .yaml file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(yaml.safe_dump(space.to_dict(), sort_keys=False))
    tmp.replace(out)
    c = complexity(space, [space.largest()])
    print(
        f"{out}: space '{space.name}', {space.size():,d} archs; largest = the checkpoint, params {_fmt(c['params'][0])}"
    )
    return 0
