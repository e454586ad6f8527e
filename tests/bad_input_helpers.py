"""Shared by the bad-input tests: valid inputs to damage, and the check that a user mistake
ends with exit 2, one line ``error: ...``, no traceback and every existing file unchanged."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

from experiments.make_tabular import SPACE_FILE, TABLE_FILE
from nas.cli import main

SEARCH = {
    "space": str(SPACE_FILE),
    "evaluators": [{"kind": "table", "path": str(TABLE_FILE)}],
    "objectives": ["max accuracy", "min params"],
    "constraints": ["flops <= 4e6"],
    "strategy": {"name": "nsga2", "population": 8},
    "budget": 8,
    "seed": 0,
    "lag": 2,
}
TRAIN_TEXT = (ROOT / "experiments/train_tiny.yaml").read_text()
SPACE_TEXT = (ROOT / "experiments/spaces/vit-tiny.yaml").read_text()
SPACE_FILE_TINY = ROOT / "experiments/spaces/vit-tiny.yaml"


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_clean_error(rc, err, before, root):
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    after = snapshot(root)
    for path, data in before.items():  # nothing lost or changed
        assert after.get(path) == data, path


def run_main(capsys, argv, root):
    before = snapshot(root)
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert_clean_error(rc, err, before, root)
    return err
