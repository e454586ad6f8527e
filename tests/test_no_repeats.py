"""Code that review found written twice now has one helper: no run of six identical code lines
is shared by these pairs of files (blank lines, comments, imports, lone brackets and
docstrings skipped, white space folded; the rule of the ``duplicates`` review tool)."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import ROOT

PAIRS = [
    ("supernet/pretrained/hf_llama.py", "supernet/pretrained/hf_gpt2.py"),  # folder and safetensors reading
    ("supernet/llama.py", "supernet/standalone.py"),  # the per-layer loop and the head
    ("experiments/fidelity_study.py", "experiments/sampling_study.py"),  # main()
    ("experiments/fidelity_units.py", "experiments/sampling_study.py"),  # the stand-alone train step
    ("benchmarks/bench_supernet_step.py", "experiments/fidelity_units.py"),
    ("supernet/pretrained/__init__.py", "supernet/pretrained/__init__.py"),  # the two families' branches
    ("tests/test_llama_model.py", "tests/test_supernet_model.py"),  # the exactness loop
]
RUN = 6


def code_lines(path) -> list[str]:
    text = (ROOT / path).read_text()
    docs = {  # docstrings and other bare strings count as prose
        n
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        for n in range(node.lineno, node.end_lineno + 1)
    }
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        s = " ".join(line.split())
        if number in docs:
            continue
        if not s or s.startswith("#") or re.fullmatch(r"[\[\](){},:]+", s):
            continue
        if re.match(r"(from \S+ )?import ", s):
            continue
        out.append(s)
    return out


def shared_runs(a: list[str], b: list[str], *, same: bool = False) -> list[tuple[str, ...]]:
    runs_a: dict[tuple[str, ...], int] = {}
    for i in range(len(a) - RUN + 1):
        runs_a.setdefault(tuple(a[i : i + RUN]), i)  # where it first stands
    found = []
    for j in range(len(b) - RUN + 1):
        run = tuple(b[j : j + RUN])
        if run in runs_a and not (same and runs_a[run] >= j):
            found.append(run)
    return found


def test_shared_runs_are_found():
    a = [f"x{i} = {i}" for i in range(10)]
    assert shared_runs(a, ["y = 0", *a[2:9]]) == [tuple(a[2:8]), tuple(a[3:9])]
    assert shared_runs(a, a, same=True) == []  # a file is not its own repeat
    assert shared_runs(a + a[:6], a + a[:6], same=True) == [tuple(a[:6])]


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}~{b}" for a, b in PAIRS])
def test_no_run_is_written_twice(a, b):
    runs = shared_runs(code_lines(a), code_lines(b), same=a == b)
    assert runs == [], "\n".join(runs[0])
