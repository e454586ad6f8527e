"""Command help texts describe the tool: no issue numbers in ``--help`` of ``nas`` (every
subcommand) or of the study and benchmark scripts."""

from __future__ import annotations

import argparse
import ast
import re

from conftest import ROOT

ISSUE = re.compile(r"\bissues?\s*#?\d+", re.I)


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_nas_help_names_no_issue():
    from nas.cli import build_parser

    helps = [p.format_help() for p in _parsers(build_parser())]
    assert len(helps) > 20  # every subcommand was reached
    bad = [h.splitlines()[0] for h in helps if ISSUE.search(h)]
    assert bad == []


def _help_strings(path):
    """The texts a script's ``--help`` shows: ``help=``/``description=``/``epilog=`` arguments
    (the module docstring where one is built from ``__doc__``)."""
    tree = ast.parse(path.read_text())
    doc = ast.get_docstring(tree) or ""
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in ("help", "description", "epilog"):
            text = ast.unparse(node.value)
            yield doc.split("\n\n")[0] if "__doc__" in text else text


def test_script_help_names_no_issue():
    scripts = sorted((ROOT / "experiments").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    bad = [f"{p.name}: {h[:80]}" for p in scripts for h in _help_strings(p) if ISSUE.search(h)]
    assert bad == []
