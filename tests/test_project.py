"""The project's own promises: README's test command is what CI runs."""

from __future__ import annotations

import re

from conftest import ROOT


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_ci_runs_readme_test_command():
    test_cmd = _commands()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in [line.strip() for line in ci]
    assert "|| true" not in "\n".join(ci)


def test_ci_also_runs_the_slow_end_to_end_tests_readme_names():
    """The default command leaves out the tests marked slow; README names the command that runs
    them and CI runs it after the default one."""
    text = (ROOT / "README.md").read_text()
    slow = "`.venv/bin/python -m pytest -q -m slow`"
    assert slow in text
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci.index(slow.strip("`")) > ci.index(_commands()[1].strip())
    config = (ROOT / "pyproject.toml").read_text()
    assert "-m 'not slow'" in config
