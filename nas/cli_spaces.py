"""``nas spaces``: list, show, sample and validate search spaces."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from search_spaces import NasError, builtin_names, complexity, load_space
from search_spaces.errors import InvalidArchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spaces", help="list, show, sample and validate search spaces")
    s = p.add_subparsers(dest="spaces_command", metavar="ACTION")
    s.required = True
    s.add_parser("list", help="the built-in spaces").set_defaults(func=cmd_list)
    show = s.add_parser("show", help="dimensions, size, smallest and largest config")
    show.add_argument("space", help="built-in name or YAML file")
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


def _fmt(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _complexity_line(space, arch) -> str:
    try:
        c = complexity(space, [arch])
    except NasError:
        return ""
    return f"  params {_fmt(c['params'][0])}  FLOPs {_fmt(c['flops'][0])} (batch 1)"


def cmd_list(args: argparse.Namespace) -> int:
    for name in builtin_names():
        space = load_space(name)
        print(f"{name:22s} {space.size():>14,d} archs  {space.description}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    space = load_space(args.space)
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
        line = _complexity_line(space, arch)
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
