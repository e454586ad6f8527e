"""The ``nas`` command line.

Each command group lives in its own module exposing ``register(subparsers)``;
a user mistake (any :class:`~search_spaces.errors.NasError`) prints one line
``error: ...`` and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Sequence

from search_spaces.errors import NasError

# Command-group modules, each with register(subparsers).  A module that fails to
# import because an optional part is missing is skipped with a note on --help.
COMMAND_MODULES = [
    "nas.cli_spaces",
    "nas.cli_train",
    "nas.cli_search",
    "nas.cli_latency",
    "nas.cli_export",
    "nas.cli_hf",
    "nas.cli_quickstart",
    "nas.cli_proxies",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas", description="Neural architecture search of efficient transformers."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def quiet_known_noise() -> None:
    """Hides warnings that do not concern a user: JAX's at-fork hook warns on every
    ``subprocess`` spawn (Ray's services, measurement workers), although fork+exec
    runs no JAX code in the child."""
    warnings.filterwarnings(
        "ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning, module="subprocess"
    )


def main(argv: Sequence[str] | None = None) -> int:
    quiet_known_noise()
    parser = build_parser()
    args = parser.parse_args(argv)
    from supernet.cache import enable_compile_cache

    enable_compile_cache()  # each nas process would otherwise compile the same programs again
    try:
        return int(args.func(args) or 0)
    except NasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume where it stopped", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
