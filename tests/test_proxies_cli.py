"""``nas proxies score / validate`` and the ``proxy`` evaluator kind: real CLI, real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

from search_spaces import load_space
from search_spaces.errors import NasError
from supernet import proxies as P

TINY = str(ROOT / "experiments/spaces/lm-tiny.yaml")


@pytest.fixture(scope="module")
def scores(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("proxies") / "scores.jsonl"
    r = cli(
        "proxies",
        "score",
        TINY,
        "--sample",
        "8",
        "--proxies",
        "params,nonembed_params,flops",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    return out


def test_score_writes_a_table_row_per_architecture(scores):
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert len(rows) == 8 and set(rows[0]["metrics"]) == {"params", "nonembed_params", "flops"}
    space = load_space(TINY)
    for r in rows:
        space.parse(r["arch"])  # every row is an architecture of the space


def test_validate_ranks_a_metric_that_follows_params(cli, scores, tmp_path):
    """A results table whose perplexity falls as params grow: params' tau is +1 (min metric negated)."""
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    res = tmp_path / "results.jsonl"
    res.write_text(
        "".join(
            json.dumps({"arch": r["arch"], "perplexity": 1e6 / r["metrics"]["params"]}) + "\n" for r in rows
        )
    )
    out = tmp_path / "v.json"
    r = cli("proxies", "validate", str(scores), str(res), "--out", str(out), "--n-boot", "200")
    assert r.returncode == 0, r.stderr
    table = json.loads(out.read_text())
    assert table["metric"] == "perplexity" and table["proxies"]["params"]["kendall"][
        "value"
    ] == pytest.approx(1.0)
    assert table["proxies"]["params"]["kendall"]["lo"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, words",
    [
        (["score", TINY, "--sample", "2", "--proxies", "zen", "--out", "x.jsonl"], "unknown proxy 'zen'"),
        (
            [
                "score",
                str(ROOT / "experiments/spaces/hwgpt-m.yaml"),
                "--sample",
                "1",
                "--proxies",
                "snip",
                "--out",
                "x.jsonl",
            ],
            "hwgpt-m",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, words):
    r = cli("proxies", *args, cwd=tmp_path)
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.slow
def test_validate_rejects_architectures_outside_the_space(cli, scores, tmp_path):
    res = tmp_path / "results.jsonl"
    res.write_text(json.dumps({"arch": {"depth": 9, "embed_dim": 32}, "perplexity": 3.0}) + "\n")
    r = cli("proxies", "validate", str(scores), str(res))
    assert r.returncode == 2 and "not in space" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_evaluator_kind_checks_its_options():
    from nas import evaluators as E

    space = load_space(TINY)
    ok = E.check_spec({"kind": "proxy", "proxies": ["snip"], "batches": 2})
    assert E.static_provides(ok) == ("snip",) and not E.is_cheap(ok)
    with pytest.raises(NasError, match="proxies"):
        E.check_spec({"kind": "proxy", "proxies": "snip"})
    with pytest.raises(NasError, match="batches"):
        E.check_spec({"kind": "proxy", "proxies": ["snip"], "batches": 0})
    with pytest.raises(NasError, match="unknown proxy"):
        E.preflight([{"kind": "proxy", "proxies": ["zen"]}], space)
    ev = E.build({"kind": "proxy", "proxies": ["params", "nonembed_params"]}, space)
    (row,) = ev.fn([space.largest()])
    assert row["params"] > row["nonembed_params"] > 0


@pytest.mark.slow
def test_zero_shot_search_runs_without_a_supernet(cli, tmp_path):
    """README's zero-shot example on the tiny LM space (lm-shakespeare's probe takes minutes on a
    loaded 2-core machine), a smaller budget: proxies and complexity only, on Ray."""
    run = tmp_path / "zero-shot"
    r = cli(
        "search", str(ROOT / "experiments/search_zero_shot.yaml"), "--run-dir", str(run),
        "--set", f"space={TINY}", "--set", "budget=6", "--set", "strategy.population=3", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    front = json.loads((run / "pareto.json").read_text())
    assert front and all(
        0.0 <= p["metrics"]["ensemble"] <= 1.0 and p["metrics"]["params"] <= 1.5e6 for p in front
    )


@pytest.mark.slow
def test_readme_proxy_commands_run(cli, tmp_path):
    """README's score and validate commands as written (the default proxy set on the fidelity
    study's stand-alone units: two seeds of some architectures, scored once, averaged)."""
    folder = str(ROOT / "experiments/results/fidelity_study_units/lm-shakespeare/standalone")
    r = cli("proxies", "score", "lm-shakespeare", "--arch", folder, "--out", "scores.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("proxies", "validate", "scores.jsonl", folder, "--out", "v.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    v = json.loads((tmp_path / "v.json").read_text())
    units = [json.loads(f.read_text()) for f in sorted(Path(folder).glob("*.json"))]
    assert v["metric"] == "perplexity" and v["n"] == len(
        {json.dumps(u["arch"], sort_keys=True) for u in units}
    )
    assert set(v["proxies"]) == set(P.DEFAULT)
    assert all(-1 <= t["kendall"]["value"] <= 1 for t in v["proxies"].values())
