"""The fidelity study: its statistics on cases whose answer is known, and its plumbing on the tiny
space (real training of a few steps, resume, refusals); the science is in the committed results."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.conftest import ROOT


def test_rank_statistics_on_known_cases():
    from experiments import fidelity_stats as FS

    x = np.arange(12.0)
    perfect = FS.kendall(x, 2 * x + 1)
    assert perfect["value"] == pytest.approx(1.0) and perfect["lo"] == perfect["hi"] == pytest.approx(1.0)
    reversed_ = FS.spearman(x, -x)
    assert reversed_["value"] == pytest.approx(-1.0) and reversed_["lo"] == reversed_["hi"] == pytest.approx(-1.0)
    noisy = FS.kendall(x, x + np.random.default_rng(0).normal(0, 3, 12))
    assert noisy["lo"] < noisy["value"] < noisy["hi"] and noisy == FS.kendall(x, x + np.random.default_rng(0).normal(0, 3, 12))
    assert FS.kendall([1, 1, 1], [1, 2, 3])["value"] is None  # no ranking to agree with
    # lower is better: the best quarter of 8 is {0, 1}; predicted best {0, 7}
    assert FS.top_precision([1, 9, 5, 6, 7, 8, 4, 2], list(range(8)), lower_better=True) == 0.5
    assert FS.top_precision(list(range(8)), list(range(8)), lower_better=False) == 1.0
    flops = [8, 7, 6, 5, 4, 3, 2, 1]
    assert FS.quartile_gaps(flops, [10] * 8, [1, 1, 2, 2, 3, 3, 4, 4]) == [6.0, 7.0, 8.0, 9.0]
    assert FS.regret(110.0, 100.0, lower_better=True) == pytest.approx(0.10)
    assert FS.regret(0.90, 0.95, lower_better=False) == pytest.approx(0.05)


def test_paired_tau_difference_on_known_cases():
    from experiments import fidelity_stats as FS

    x = np.arange(12.0)
    rng = np.random.default_rng(1)
    noisy_minus_exact = FS.kendall_difference(x + rng.normal(0, 3, 12), x, x)
    flip = FS.kendall_difference(x, -x, x)  # tau 1 minus tau -1, on every resample
    assert flip["value"] == pytest.approx(2.0) and flip["lo"] == flip["hi"] == pytest.approx(2.0)
    a = x + rng.normal(0, 3, 12)
    zero = FS.kendall_difference(a, a, x)  # a recipe against itself: exactly 0, whatever the resample
    assert zero["value"] == zero["lo"] == zero["hi"] == 0.0
    # pairing: the difference's interval is narrower than the two separate intervals' spread
    b = a + rng.normal(0, 0.5, 12)
    d, ka, kb = FS.kendall_difference(a, b, x), FS.kendall(a, x), FS.kendall(b, x)
    assert d["value"] == pytest.approx(ka["value"] - kb["value"])
    assert d["hi"] - d["lo"] < (ka["hi"] - ka["lo"]) + (kb["hi"] - kb["lo"])
    assert noisy_minus_exact["value"] < 0 < noisy_minus_exact["hi"] - noisy_minus_exact["lo"]
    with pytest.raises(ValueError, match="paired"):
        FS.kendall_difference([1, 2], [1, 2, 3], [1, 2, 3])


def _args(tmp_path, *extra):
    return [
        "--quick", "--subnets", "4", "--seed-b", "3", "--samplers", "uniform", "--search-budget", "3",
        "--bounds", "0.8", "--units", str(tmp_path / "units"), "--workdir", str(tmp_path / "work"),
        "--results", str(tmp_path / "results"), *extra,
    ]  # fmt: skip


def _files(folder):
    return {p: p.stat().st_mtime_ns for p in sorted(folder.rglob("*.json"))}


@pytest.mark.slow
def test_quick_study_writes_results_resumes_and_refuses_another_config(tmp_path, capsys):
    from experiments import fidelity_study

    report = fidelity_study.main(_args(tmp_path))
    out = tmp_path / "results"
    sec = json.loads((out / "fidelity_study.json").read_text())["spaces"]["vit-tiny"]
    assert report["spaces"]["vit-tiny"]["recipes"].keys() == sec["recipes"].keys() == {"uniform"}
    assert sec["pending"] == [] and len(sec["standalone"]) == 4 and all(0 <= a <= 1 for a in sec["standalone"])
    r = sec["recipes"]["uniform"]
    assert r["total_passes"] == 6 and r["passes_per_step"] == [1]  # equal compute: --passes passes
    assert -1 <= r["kendall"]["value"] <= 1 and len(r["quartile_gap"]) == 4
    nc = sec["noise_ceiling"]["kendall"]
    assert nc["value"] is None or -1 <= nc["value"] <= 1
    search = r["searches"]["0.8"]
    assert search["strategy"] == "bayesian" and search["evaluations"] == 3
    for pick in search["picks"].values():
        assert pick["mflops"] <= search["bound_mflops"] + 1e-9 and pick["standalone"] is not None
    seeds = search["over_seeds"]  # the quick preset searches with 2 seeds: default vs random over both
    assert seeds["n"] == 2 and seeds["default_better"] + seeds["equal"] + seeds["random_better"] == 2
    md = (out / "fidelity_study.md").read_text()
    # the command at the top names every setting that differs from the preset, and the folders
    cmd = re.search(r"python experiments/fidelity_study.py --quick --samplers uniform (.*)", md).group(1)
    for flag in ("--subnets 4", "--seed-b 3", "--search-budget 3", "--bounds 0.8", "--units ", "--results "):
        assert flag in cmd
    assert "--passes" not in cmd  # the preset's
    assert f"fidelity_report.py {(tmp_path / 'results' / 'fidelity_study.json').resolve()}" in md
    assert "| uniform |" in md and "Noise ceiling" in md and "Over search seeds" in md
    assert (out / "fidelity_study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    units = _files(tmp_path / "units")
    assert len([p for p in units if "standalone" in p.parts]) >= 7  # 4 seed A + 3 seed B (+ picks)

    # a second run finds every unit finished: nothing retrained, nothing rewritten, same figures
    capsys.readouterr()
    again = fidelity_study.main(_args(tmp_path))
    assert "done " not in capsys.readouterr().out
    assert _files(tmp_path / "units") == units
    assert again["spaces"]["vit-tiny"]["recipes"] == report["spaces"]["vit-tiny"]["recipes"]

    # the same folder with another configuration is refused, naming the field; nothing overwritten
    with pytest.raises(SystemExit) as e:
        fidelity_study.main(_args(tmp_path, "--standalone-steps", "4"))
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err
    assert err.startswith("error: field '--standalone-steps': the results folder") and "3" in err
    assert _files(tmp_path / "units") == units

    # more seed-B runs only add units: the folder takes them, keeps every finished one, and the
    # ceiling is over the larger, nested set (the 3 subnets of --seed-b 3 among the 4)
    grown = fidelity_study.main(_args(tmp_path, "--seed-b", "4"))["spaces"]["vit-tiny"]
    after = _files(tmp_path / "units")
    assert {p: m for p, m in after.items() if p in units and p.name != "study.json"} == {
        p: m for p, m in units.items() if p.name != "study.json"}
    assert len([p for p in after if p.name.endswith("-B.json")]) == 4 and len(grown["seed_b"]) == 4


def _bad_space(tmp_path):
    text = (ROOT / "experiments/spaces/vit-tiny.yaml").read_text().replace("kind: vit", "kind: sonar")
    path = tmp_path / "no-task.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "extra, field",
    [
        (["--space", "SPACE"], "--space"),  # a space whose task kind no one can build
        (["--subnets", "500"], "--subnets"),  # the tiny space has 72 distinct subnets
        (["--passes", "2"], "--passes"),  # cannot hold one stand-alone run of 3 steps
        (["--standalone-steps", "1"], "--standalone-steps"),  # shorter than its warm-up
        (["--bounds", "0.1"], "--bounds"),  # below the smallest subnet
        (["--samplers", "uniform,greedy"], "--samplers"),
    ],
)
def test_bad_input_is_one_line_naming_the_field_and_writes_nothing(tmp_path, capsys, extra, field):
    from experiments import fidelity_study

    args = _args(tmp_path, *[_bad_space(tmp_path) if a == "SPACE" else a for a in extra])
    if "--space" in extra:
        args.remove("--quick")
    with pytest.raises(SystemExit) as e:
        fidelity_study.main(args)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and err.startswith(f"error: field '{field}' is ")
    assert not (tmp_path / "units").exists() and not (tmp_path / "results").exists()


def test_readme_and_design_quote_the_committed_study():
    """README's sampler section and docs/design.md show the lm-shakespeare figures as the committed
    json gives them (regenerated by the command at the top of fidelity_study.md)."""
    from experiments import fidelity_report

    report = json.loads((ROOT / "experiments/results/fidelity_study.json").read_text())
    sec = report["spaces"]["lm-shakespeare"]
    table = fidelity_report.summary_table(sec)
    assert sec["recipes"] and "uniform" in sec["recipes"]
    import guides

    for doc, text in (("README and its guides", guides.text()), ("docs/design.md", (ROOT / "docs/design.md").read_text())):
        assert table in text, f"{doc} does not quote the study's current table"
    md = (ROOT / "experiments/results/fidelity_study.md").read_text()
    assert "python experiments/fidelity_study.py --space lm-shakespeare" in md.split("\n## ", 1)[0]


def test_seed_b_subnets_are_evenly_spread_and_nested():
    from experiments.fidelity_study import seed_b_index

    assert seed_b_index(24, 6) == [0, 5, 9, 14, 18, 23]  # what the committed units were run with
    for k in range(2, 25):
        idx = seed_b_index(24, k)
        assert len(idx) == len(set(idx)) == k and idx[0] == 0 and idx[-1] == 23
        assert set(seed_b_index(24, k - 1)) <= set(idx) or k <= 6  # nested from 6 on
        assert max(b - a for a, b in zip(idx[:-1], idx[1:], strict=True)) <= -(-23 // (k - 1)) + 2
