"""Tables never cut a number, in an 80-column terminal, a narrower one or a log file
(nas/tables.py): headers wrap, text wraps, and a table that cannot fit becomes key/value
lines.  stdout under pytest's capture is not a terminal (a log file): rich takes 80
columns, or ``COLUMNS``."""

from __future__ import annotations

import io

import pytest

from nas.objectives import Objective
from nas.quickstart import print_summary
from nas.run_outputs import print_table as print_front
from nas.tables import print_table

SUMMARY = {
    "accuracy": 0.91234,
    "params": 1_234_567,
    "flops": 4_641_664_128,
    "predicted_ms": 12.3456,
    "predicted_q90_ms": 15.25,
    "measured_ms": 13.125,
    "measured_on_scale_ms": 12.75,
    "device": "cpu-hostname-01",
    "constraint": "latency_ms[cpu-hostname-01] <= 20",
    "architecture": {
        "embed_dim": 64,
        "depth": 1,
        "num_heads": [2],
        "mlp_dim": [64],
        "attn_type": ["softmax"],
    },
    "bundle": "runs/quickstart/export/best",
    "plots": [],
}
CELLS = ["0.9123", "1,234,567", "4,641,664,128", "12.346", "15.250", "13.125", "12.750", "cpu-hostname-01"]


@pytest.mark.parametrize("columns", [None, "80", "60", "40"])
def test_the_quickstart_summary_keeps_every_number_whole(columns, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    print_summary(SUMMARY)
    out = capsys.readouterr().out
    width = int(columns or 80)
    table = out.split("architecture:")[0]  # the lines after it are plain text
    assert all(len(line) <= width for line in table.splitlines()), out
    assert "…" not in out and "latency_ms[cpu-hostname-01] <= 20" in out  # not read as rich markup
    for cell in CELLS:
        assert cell in out, (cell, out)


def test_the_pareto_front_fits_80_columns_and_wraps_only_the_architecture(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    objectives = [Objective("accuracy", "max"), Objective("latency_ms[cpu-hostname-01]", "min")]
    arch = {"embed_dim": 64, "depth": 3, "num_heads": [2, 4, 2], "mlp_dim": [64, 128, 256],
            "attn_type": ["linear", "softmax", "linear"]}  # fmt: skip
    front = [
        {
            "index": 1234,
            "arch": arch,
            "metrics": {"accuracy": 0.912345, "latency_ms[cpu-hostname-01]": 1234.5678},
        }
    ]
    print_front(front, objectives, val_examples=18)
    out = capsys.readouterr().out
    assert "accuracy on 18 validation examples" in out.replace("\n", " ")
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "…" not in out and "1234" in out and "0.9123" in out and "1235" in out
    assert "latency_ms[cpu-hostname-01]" in out.replace("\n", "")  # a long header word is never cut


def test_a_narrow_terminal_gets_key_value_lines():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=20, force_terminal=True)
    print_table("t", ["a long header", "b"], [["123,456,789,012", "7"]], console=console)
    out = console.file.getvalue()
    assert "123,456,789,012" in out and "a long header" in out and "…" not in out
    assert "┃" not in out  # no table at all: key/value lines
