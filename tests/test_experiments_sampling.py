"""The sampling study end to end on the tiny space: real training, outputs written, reruns reuse work."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT


def _args(tmp_path, samplers="uniform,sandwich"):
    return [
        "--space",
        str(ROOT / "experiments/spaces/vit-tiny.yaml"),
        "--samplers",
        samplers,
        "--steps",
        "2",
        "--batch",
        "16",
        "--subnets",
        "2",
        "--standalone-steps",
        "2",
        "--num-bins",
        "2",
        "--workdir",
        str(tmp_path / "work"),
        "--results",
        str(tmp_path / "results"),
    ]


@pytest.mark.slow
def test_tiny_study_writes_results_and_reuses_finished_runs(tmp_path):
    from experiments import sampling_study

    report = sampling_study.main(_args(tmp_path))
    out = tmp_path / "results"
    saved = json.loads((out / "sampling_study.json").read_text())
    md = (out / "sampling_study.md").read_text()
    assert (out / "sampling_study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(saved["samplers"]) == {"uniform", "sandwich"}
    assert saved["samplers"]["uniform"]["passes_per_step"] == [2]  # k = --per-step
    assert saved["samplers"]["sandwich"]["passes_per_step"] == [3]  # largest + smallest + 1
    assert saved["samplers"]["sandwich"]["total_passes"] == 6
    for label, r in saved["samplers"].items():
        assert -1.0 <= r["kendall_tau"] <= 1.0 and 0.0 <= r["kendall_p"] <= 1.0
        assert len(r["subnet_accuracy"]) == 2 and all(0.0 <= a <= 1.0 for a in r["subnet_accuracy"])
        assert f"| {label} |" in md
    assert len(saved["standalone"]["accuracy"]) == 2
    # a second run reuses the finished supernets and the cached stand-alone results: same figures
    again = sampling_study.main(_args(tmp_path))
    for label, r in again["samplers"].items():
        assert r["reused"] and r["train_s"] == report["samplers"][label]["train_s"]
        assert r["subnet_accuracy"] == report["samplers"][label]["subnet_accuracy"]
    assert again["standalone"]["accuracy"] == report["standalone"]["accuracy"]


def test_study_rejects_unknown_sampler(tmp_path, capsys):
    from experiments import sampling_study

    with pytest.raises(SystemExit) as e:
        sampling_study.main(_args(tmp_path, samplers="uniform,greedy"))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: field '--samplers' is 'uniform,greedy'") and "\n" not in err


def test_specs_equal_passes_per_step_where_allowed(vit_space):
    import jax

    from experiments import sampling_study
    from supernet.samplers import make_sampler

    specs = sampling_study.sampler_specs(per_step=2, num_bins=4)
    counts = {}
    for label, spec in specs.items():
        s = make_sampler(spec["name"], vit_space, **spec["options"])
        archs, _ = s.sample(jax.random.key(0), s.init(jax.random.key(1)), 0)
        counts[label] = len(archs)
    assert counts == {"uniform": 2, "sandwich": 3, "complexity_aware": 2, "performance_aware": 2}


def test_study_rejects_a_space_without_accuracy(tmp_path, capsys):
    """The study asks the task for its metrics (no task kind is named): an LM has no accuracy."""
    from experiments import sampling_study

    args = _args(tmp_path)
    args[1] = "lm-shakespeare"
    with pytest.raises(SystemExit) as e:
        sampling_study.main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: field '--space': the study needs a space whose task reports accuracy, got 'lm-shakespeare'"
    )
