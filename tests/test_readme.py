"""README.md's Python API block runs as written (on the session's local Ray)."""

from __future__ import annotations

import re

from conftest import ROOT


def python_block(section: str) -> str:
    text = (ROOT / "README.md").read_text()
    part = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", part, flags=re.S)
    assert blocks, f"no python block under '{section}'"
    return blocks[0]


def test_python_api_block_runs(ray_local, tmp_path, monkeypatch, capsys):
    code = python_block("Python API").replace('"runs/', f'"{tmp_path}/')
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "40 evaluations" in out and "64 architectures proposed" in out
    assert (tmp_path / "api-aging" / "pareto.json").is_file()
