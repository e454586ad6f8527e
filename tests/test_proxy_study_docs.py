"""The proxy study's figures in the docs are the committed results file's (no hand-copied numbers)."""

import json
from pathlib import Path

from experiments.proxy_report import compact_table, summary
from supernet import proxies as P

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments/results"


def _block(text: str) -> list[str]:
    start, end = text.index("<!-- compact table -->"), text.index("<!-- /compact table -->")
    return text[start:end].splitlines()[1:]


def test_docs_carry_the_committed_study_table():
    tables = json.loads((RESULTS / "proxy_study.json").read_text())
    table = compact_table(tables)
    assert _block((RESULTS / "proxy_study.md").read_text()) == table
    for doc in ("docs/proxies.md", "docs/design.md"):
        assert _block((ROOT / doc).read_text()) == table, doc


def test_the_default_set_is_what_the_study_supports():
    """Every data proxy in the default set beats params somewhere and is worse nowhere."""
    tables = json.loads((RESULTS / "proxy_study.json").read_text())
    verdict = summary(tables)
    for name in P.DEFAULT:
        if name in ("params", "nonembed_params", "ensemble"):
            continue
        assert verdict[name]["beats"] and not verdict[name]["worse"], (name, verdict[name])
    assert not verdict.get("ensemble", {}).get("worse"), verdict.get("ensemble")
