"""The Ray runner: asynchrony with deterministic results, cache, worker death, resume."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from experiments.make_tabular import SPACE_FILE, TABLE_FILE
from nas import evaluators as E
from nas import run_outputs, runner, search_config
from search_spaces import ArchConfig, load_space, load_space_file
from search_spaces.errors import NasError


def tabular(**extra):
    raw = {
        "space": str(SPACE_FILE),
        "evaluators": [{"kind": "table", "path": str(TABLE_FILE)}],
        "objectives": [{"metric": "accuracy", "goal": "max"}, {"metric": "params", "goal": "min"}],
        "constraints": ["flops <= 4e6"],
        "strategy": {"name": "evolution", "population": 8, "parents": 4},
        "budget": 24,
        "seed": 1,
        "lag": 3,
    }
    raw.update(extra)
    return search_config.check(raw)


def synthetic(tmp_path, **opts):
    return search_config.check(
        {
            "space": "vit-mnist",
            "evaluators": [
                {"kind": "callable", "target": "experiments.toy_evaluators:synthetic", "options": opts},
                {"kind": "complexity"},
            ],
            "objectives": ["max score", "min params"],
            "constraints": ["params <= 2e5"],
            "strategy": {"name": "aging", "population": 6, "sample_size": 3},
            "budget": 12,
            "seed": 0,
            "lag": 2,
        }
    )


def archs_of(result):
    return [ArchConfig.from_dict(r["arch"]).to_json() for r in result.records]


def test_tabular_search_is_deterministic_whatever_the_workers(ray_local, tmp_path):
    a = runner.run_search(tabular(), tmp_path / "a", workers=2, progress=False, executor="ray")
    b = runner.run_search(tabular(), tmp_path / "b", workers=1, progress=False)  # cheap: in the driver
    assert [r["index"] for r in a.records] == list(range(24))
    assert archs_of(a) == archs_of(b) and a.state == b.state
    assert [r["metrics"] for r in a.records] == [r["metrics"] for r in b.records]
    assert {r["worker"] for r in b.records} == {"driver"}
    assert len(set(archs_of(a))) == 24  # never evaluated twice
    table = E.read_table(TABLE_FILE)
    assert all(j in table for j in archs_of(a))  # the pool is the table
    assert len({r["worker"] for r in a.records}) == 2  # both workers took work
    assert all(r["worker"].rsplit(":", 1)[1].startswith("core") for r in a.records)  # pinned

    cfg = tabular()
    summary = run_outputs.write_outputs(tmp_path / "a", a.records, cfg.objectives, cfg.constraints)
    front = json.loads((tmp_path / "a" / "pareto.json").read_text())
    assert front == summary["front"] and front
    assert all(r["metrics"]["flops"] <= 4e6 for r in front)
    feasible = [r for r in a.records if r["metrics"]["flops"] <= 4e6]
    for p in front:  # nothing feasible dominates a front member
        assert not any(
            q["metrics"]["accuracy"] >= p["metrics"]["accuracy"]
            and q["metrics"]["params"] <= p["metrics"]["params"]
            and (q["metrics"]["accuracy"], q["metrics"]["params"])
            != (p["metrics"]["accuracy"], p["metrics"]["params"])
            for q in feasible
        )
    best = json.loads((tmp_path / "a" / "best.json").read_text())
    assert best["all constraints"]["metrics"]["accuracy"] == max(r["metrics"]["accuracy"] for r in feasible)
    assert (tmp_path / "a" / "pareto.png").stat().st_size > 1000
    assert (tmp_path / "a" / "progress.png").stat().st_size > 1000
    with pytest.raises(NasError, match="already holds a search"):
        runner.run_search(tabular(), tmp_path / "a", workers=1, progress=False)


def _search_in_a_fresh_process(lines: str) -> list[str]:
    """Runs ``lines`` (which define ``res``, a SearchResult) in a new Python; prints the number
    of records, their workers and whether Ray was imported."""
    code = (
        "import sys\nfrom nas import runner, search_config\n"
        + lines
        + "print(len(res.records), {r['worker'] for r in res.records}, 'ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_search_of_cheap_evaluators_never_starts_ray(tmp_path):
    out = _search_in_a_fresh_process(
        "cfg = search_config.load('experiments/search_tabular.yaml', ['budget=30', 'lag=4'])\n"
        f"res = runner.run_search(cfg, {str(tmp_path / 'run')!r}, progress=False)\n"
    )
    assert out == ["30", "{'driver'}", "False"]  # Ray was not even imported


def test_resuming_a_finished_search_replays_it_without_ray(tiny_search_run, tmp_path):
    """A supernet search is evaluated on Ray; once its budget is spent, --resume only replays."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_search_run, run)
    before = (run / "history.jsonl").read_text()
    out = _search_in_a_fresh_process(
        f"res = runner.run_search(runner.load_run_config({str(run)!r}), {str(run)!r}, resume=True, progress=False)\n"
    )
    assert out[0] == str(len(before.splitlines())) and out[-1] == "False"  # replayed, Ray not imported
    assert (run / "history.jsonl").read_text() == before


@pytest.mark.parametrize(
    "spec, space, message",
    [
        (
            {"kind": "callable", "target": "no_such_module_xyz:f"},
            "vit-mnist",
            "evaluators[0] (callable): field 'target': cannot import module 'no_such_module_xyz'",
        ),
        ({"kind": "complexity"}, "NOTASK", "evaluators[0] (complexity): space 'notask': field 'task.kind'"),
        (
            {"kind": "supernet", "workdir": "/nonexistent/supernet"},
            "vit-mnist",
            "evaluators[0] (supernet): field 'workdir': supernet run directory '/nonexistent/supernet' does not",
        ),
    ],
)
def test_an_evaluator_that_cannot_be_built_fails_before_any_evaluation(tmp_path, spec, space, message):
    if space == "NOTASK":
        space = {"name": "notask", "max_depth": 2, "global": {"depth": [1, 2], "embed_dim": [8, 16]},
                 "layer": {"num_heads": [1, 2]}}  # fmt: skip
    objective = {"complexity": "min params", "supernet": "max accuracy"}.get(spec["kind"], "max score")
    cfg = search_config.check({"space": space, "evaluators": [spec], "objectives": [objective], "budget": 4})
    started = time.monotonic()
    with pytest.raises(NasError) as err:
        runner.run_search(cfg, tmp_path / "run", workers=1, progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run" / "history.jsonl").exists()
    assert time.monotonic() - started < 20  # no Ray, no retries


def test_a_dying_worker_costs_only_a_retry(ray_local, tmp_path):
    marker = tmp_path / "died"
    cfg = synthetic(tmp_path, die_once=str(marker))
    res = runner.run_search(cfg, tmp_path / "run", workers=2, progress=False)
    assert marker.exists()  # a worker really exited mid-search
    assert len(res.records) == 12 and len(set(archs_of(res))) == 12
    assert any(r["attempts"] == 2 for r in res.records)
    clean = runner.run_search(synthetic(tmp_path), tmp_path / "clean", workers=2, progress=False)
    assert archs_of(clean) == archs_of(res)
    assert [r["metrics"] for r in clean.records] == [r["metrics"] for r in res.records]


def test_resume_reuses_history_and_continues_identically(ray_local, tmp_path):
    full = runner.run_search(tabular(), tmp_path / "full", workers=2, progress=False)
    part = tmp_path / "part"
    part.mkdir()
    (part / "config.yaml").write_text((tmp_path / "full" / "config.yaml").read_text())
    lines = (tmp_path / "full" / "history.jsonl").read_text().splitlines()
    kept = [json.loads(x) for x in lines[:10]]
    (part / "history.jsonl").write_text("\n".join(lines[:10]) + "\n" + lines[10][:25])  # torn last line
    res = runner.run_search(runner.load_run_config(part), part, workers=2, resume=True, progress=False)
    assert archs_of(res) == archs_of(full) and res.state == full.state
    by_index = {r["index"]: r for r in res.records}
    for r in kept:  # finished evaluations were kept, not redone
        assert by_index[r["index"]] == r


def test_resume_detects_a_changed_config(ray_local, tmp_path):
    runner.run_search(tabular(), tmp_path / "r", workers=1, progress=False)
    with pytest.raises(NasError, match="cannot resume: proposal 0 differs"):
        runner.run_search(tabular(seed=5), tmp_path / "r", workers=1, resume=True, progress=False)


def test_evaluators_for_real(tmp_path):
    space = load_space_file(SPACE_FILE)
    archs = space.sample_many(0, 3)
    cx = E.build({"kind": "complexity"}, space).fn(archs)
    assert cx[0]["params"] > 0 and cx[0]["flops"] == 2 * cx[0]["macs"]
    row = next(iter(E.read_table(TABLE_FILE).items()))
    tab = E.build({"kind": "table", "path": str(TABLE_FILE)}, space)
    assert tab.fn([ArchConfig.from_json(row[0])]) == [row[1]]
    assert (
        tab.fn([ArchConfig.from_json(row[0])])[0]["params"]
        == E.build({"kind": "complexity"}, space).fn([ArchConfig.from_json(row[0])])[0]["params"]
    )
    missing = [a for a in space.sample_many(9, 50) if a.to_json() not in E.read_table(TABLE_FILE)][0]
    with pytest.raises(NasError, match="has no row for architecture"):
        tab.fn([missing])
    vit = load_space("vit-mnist")
    user = E.build({"kind": "callable", "target": "experiments.toy_evaluators:synthetic"}, vit)
    assert user.fn([vit.sample(123)])[0]["score"] == pytest.approx(0.0, abs=0.05)
    with pytest.raises(NasError, match="has no function 'nope'"):
        E.build({"kind": "callable", "target": "experiments.toy_evaluators:nope"}, vit)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"arch": {"depth": 1}}\n')
    with pytest.raises(NasError, match="line 1"):
        E.read_table(bad)


def test_latency_and_supernet_evaluators_fail_clearly_without_their_packages(tmp_path):
    space = load_space("vit-mnist")
    for spec in ({"kind": "latency", "device": "cpu-host"}, {"kind": "supernet", "workdir": str(tmp_path)}):
        try:
            ev = E.build(spec, space)
        except NasError as e:
            assert spec["kind"] in str(e) and "\n" not in str(e)
        else:  # the package has landed: it must then give its metric
            out = ev.fn(space.sample_many(0, 2))
            assert len(out) == 2


def test_payloads_are_read_once_and_builds_read_no_file(tmp_path):
    """A table's payload is its rows: an evaluator built from it works with the file gone,
    and a pickled copy (what Ray's object store carries) gives the same metrics."""
    space = load_space_file(SPACE_FILE)
    table = tmp_path / "copy.jsonl"
    shutil.copy(TABLE_FILE, table)
    specs = [{"kind": "table", "path": str(table)}, {"kind": "latency", "device": "cpu-host"}]
    vit = load_space("vit-mnist")
    payloads = [E.load(specs[0], space), E.load(specs[1], vit)]
    table.unlink()
    arch = ArchConfig.from_json(next(iter(payloads[0])))
    built = E.build(specs[0], space, pickle.loads(pickle.dumps(payloads[0])))
    assert built.fn([arch]) == [E.read_table(TABLE_FILE)[arch.to_json()]]
    archs = vit.sample_many(0, 3)
    lat = [
        E.build(specs[1], vit, p).fn(archs) for p in (payloads[1], pickle.loads(pickle.dumps(payloads[1])))
    ]
    assert lat[0] == lat[1] and lat[0][0]["latency_ms[cpu-host]"] > 0
    with pytest.raises(NasError, match=r"^evaluators\[0\] \(table\): .*table.jsonl"):
        E.payloads([{"kind": "table", "path": str(tmp_path / "table.jsonl")}], space, [None])


def test_user_code_a_cluster_needs(tmp_path, monkeypatch):
    """The working directory, and the callable's package when it lies outside it and outside
    this project's and the installed packages; nothing without a callable."""
    from nas.ray_workers import user_code

    monkeypatch.chdir(tmp_path)
    assert user_code([{"kind": "complexity"}]) == ([], None)
    here = [{"kind": "callable", "target": t} for t in ("nas.objectives:x", "numpy:sum", "json:dumps")]
    assert user_code(here) == ([], str(tmp_path.resolve()))
    toy = [{"kind": "callable", "target": "experiments.toy_evaluators:synthetic"}]
    assert user_code(toy) == ([str(ROOT / "experiments")], str(tmp_path.resolve()))
    monkeypatch.chdir(ROOT)
    assert user_code(toy) == ([], str(ROOT))
