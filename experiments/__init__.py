"""Studies that reproduce results end to end; each script's docstring holds its command."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence


def run_cli(
    build_parser: Callable[[], argparse.ArgumentParser],
    run: Callable[[argparse.Namespace], Any],
    argv: Sequence[str] | None = None,
) -> Any:
    """A study's ``main``: parse ``argv``, ``run`` it; a user mistake (``NasError``) is one
    line ``error: ...`` on stderr and exit status 2, as in the ``nas`` CLI."""
    from search_spaces.errors import NasError

    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except NasError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
