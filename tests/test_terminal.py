"""What a person sees (bars, readable lines, a summary; no JSON) and what a script reads
(``--log-format json``: JSON objects only, one per line).  The full runs are checked where
they already run: ``nas quickstart`` (tests/test_quickstart.py), ``nas train`` in JSON
(tests/test_training.py) and ``nas latency measure`` in both (tests/test_cli_latency.py)."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ROOT

BAR = re.compile(r"^[\w -]+:\s+\d+%\|")  # a tqdm bar (on stderr)


def raw_json_objects(text: str) -> list[dict]:
    """Every JSON object printed anywhere in ``text`` (a line of them, or one inside a line)."""
    found, dec = [], json.JSONDecoder()
    for line in re.split(r"[\r\n]+", text):
        i = line.find("{")
        while i >= 0:
            try:
                obj, end = dec.raw_decode(line, i)
            except json.JSONDecodeError:
                end = i + 1
            else:
                if isinstance(obj, dict) and obj:
                    found.append(obj)
            i = line.find("{", max(end, i + 1))
    return found


def json_lines(text: str) -> list[dict]:
    """stdout of ``--log-format json``: every non-empty line one JSON object, or the test fails."""
    out = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
    assert all(isinstance(o, dict) for o in out)
    return out


def test_raw_json_objects_finds_what_a_person_should_not_see():
    assert raw_json_objects('step 3\n{"bin": 3, "loss": 1.7}\nx') == [{"bin": 3, "loss": 1.7}]
    assert raw_json_objects('architecture: {"depth": 2}  {nope}') == [{"depth": 2}]
    assert raw_json_objects("train: 50%|##  | 2/4 [00:01, loss 1.763, bin 3]\n{} {x}") == []


def test_formats_print_what_they_promise(capsys):
    from nas.terminal import Terminal, aligned, number, training_summary

    rec = {"step": 25, "loss": 1.76, "losses": [1.7, 1.82], "bin": 3}
    for fmt in ("human", "json", "quiet"):
        t = Terminal(fmt)
        bar = t.bar(total=2, desc="train")
        bar.update(1, loss=1.76, bin=3, losses=[1.7])
        t.record(rec)
        t.say("hello", n=1)
        bar.update(1)
        bar.close()
        t.lines(training_summary({"step": 2, "final": {"largest": {"accuracy": 0.5}}}, bar, metrics_file="m"))
        out, err = capsys.readouterr()
        if fmt == "human":
            assert raw_json_objects(out + err) == [] and "hello" in out
            assert "loss 1.76, bin 3]" in err and BAR.match(err.lstrip("\r"))  # the postfix
            assert "trained 2 steps (this run: 2 in " in out and "largest" in out
        elif fmt == "json":
            assert json_lines(out) == [rec, {"message": "hello", "n": 1}] and err == ""  # no tty: no bar
        else:
            assert out == err == ""
    assert aligned([["subnet", "loss"], ["largest", "0.5000"]]) == ["  subnet     loss", "  largest  0.5000"]
    shown = [number(x) for x in (0.25, 3345664.0, 1234.5, 7, "a")]
    assert shown == ["0.2500", "3,345,664", "1,234.5", "7", "a"]
    with pytest.raises(Exception, match="field '--log-format': 'xml' is not one of human, json, quiet"):
        Terminal("xml")


def test_search_prints_a_table_and_a_summary_or_json_lines(capsys, tmp_path, monkeypatch):
    from nas.cli import main

    monkeypatch.chdir(ROOT)
    args = [
        "search",
        "experiments/search_tabular.yaml",
        *("--set", "budget=10", "--set", "strategy.population=4"),
    ]
    assert main([*args, "--run-dir", str(tmp_path / "h")]) == 0
    out, err = capsys.readouterr()
    assert raw_json_objects(out + err) == []
    assert "10 evaluations (this run: 10 in" in out and "Pareto front" in out
    best = next(x for x in out.splitlines() if x.startswith("  best"))  # objectives and constraints only
    assert re.fullmatch(r"  best +accuracy 0\.\d{4}, params [\d,]+, flops [\d,]+", best), best
    assert BAR.match(err.lstrip("\r")) and "best accuracy" in err

    assert main([*args, "--run-dir", str(tmp_path / "j"), "--log-format", "json"]) == 0
    out, err = capsys.readouterr()
    lines = json_lines(out)
    history = [json.loads(x) for x in (tmp_path / "j" / "history.jsonl").read_text().splitlines()]
    assert lines[:-1] == history and len(history) == 10  # every result as history.jsonl holds it
    assert lines[-1]["evaluations"] == 10 and lines[-1]["hypervolume"] > 0 and lines[-1]["front"]
    assert err == ""


def test_quickstart_summary_is_a_table_for_people_and_one_object_for_scripts(capsys):
    from nas.quickstart import print_summary

    s = {"architecture": {"depth": 2, "embed_dim": 32, "num_heads": [1, 2]}, "accuracy": 0.5, "params": 10,
         "flops": 20, "predicted_ms": 0.1, "predicted_q90_ms": 0.12, "measured_ms": 0.11, "device": "cpu-host",
         "constraint": "latency_ms[cpu-host].q90 <= 0.2", "bundle": "b", "plots": ["p.png"]}  # fmt: skip
    print_summary(s)
    out, err = capsys.readouterr()
    assert raw_json_objects(out + err) == [] and "architecture: d2 embed_dim=32 num_heads=1/2" in out
    print_summary(s, log_format="json")
    assert json_lines(capsys.readouterr().out) == [{"message": "[quickstart] 5/5 done"}, {"summary": s}]
