"""``nas quickstart``: train, measure, search and export in one resumable command."""

from __future__ import annotations

import argparse

from nas import terminal


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="the whole pipeline on vit-mnist (resumable)")
    p.add_argument(
        "--workdir", default="runs/quickstart", help="where everything goes (default runs/quickstart)"
    )
    p.add_argument("--size", default="default", help="'default' (minutes) or 'small' (smoke test)")
    p.add_argument("--workers", type=int, help="Ray workers (default: all CPUs)")
    p.add_argument(
        "--new-device",
        action="store_true",
        help="measure this CPU (active learning) even if the shipped cpu-host predictor matches it",
    )
    terminal.add_flag(p)
    p.set_defaults(func=cmd_quickstart)


def cmd_quickstart(args: argparse.Namespace) -> int:
    from nas.quickstart import quickstart

    quickstart(
        args.workdir,
        size=args.size,
        workers=args.workers,
        new_device=args.new_device,
        log_format=args.log_format,
    )
    return 0
