"""README.md and the guides under docs/ (every ``docs/*.md`` but ``design.md``): where the
tests find the commands and code blocks they run, so a guide moved out of README stays tested."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT


def files() -> list[Path]:
    """README first, then the guides in name order."""
    return [ROOT / "README.md", *(p for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "design.md")]


def text() -> str:
    """Every guide's text, README first."""
    return "\n".join(p.read_text() for p in files())


def section(title: str) -> str:
    """The text under ``## title`` (up to the next ``## ``) in whichever guide holds it."""
    for path in files():
        t = path.read_text()
        if f"\n## {title}\n" in t:
            return t.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    raise AssertionError(f"no guide has a section '## {title}'")
