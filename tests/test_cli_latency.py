"""``nas latency`` end to end through real subprocesses."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED

from tests.test_terminal import json_lines, raw_json_objects

HAT = SHARED / "data" / "hat"
FEATS = (
    "encoder_embed_dim,encoder_layer_num,encoder_ffn_embed_dim_avg,encoder_self_attention_heads_avg,"
    "decoder_embed_dim,decoder_layer_num,decoder_ffn_embed_dim_avg,decoder_self_attention_heads_avg,"
    "decoder_ende_attention_heads_avg,decoder_arbitrary_ende_attn_avg"
)
TGT = "latency_mean_encoder,latency_mean_decoder"


def _one_error_line(r):
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
    return lines[0]


def test_list_and_query(cli, tmp_path, vit_space):
    r = cli("latency", "list")
    assert r.returncode == 0 and "cpu-host" in r.stdout and "vit-mnist" in r.stdout
    arch = tmp_path / "a.json"
    arch.write_text(vit_space.largest().to_json())
    archs = tmp_path / "a.jsonl"
    archs.write_text("\n".join(a.to_json() for a in vit_space.sample_many(1, 4)) + "\n")
    r = cli("latency", "query", "--device", "cpu-host", "--space", "vit-mnist", "--arch", arch)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["latency_ms"] > 0 and rec["std_ms"] >= 0 and rec["arch"] == vit_space.largest().to_dict()
    r = cli("latency", "query", "--device", "cpu-host", "--space", "vit-mnist", "--archs", archs)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4


def test_query_bad_input(cli, tmp_path, lm_space):
    arch = tmp_path / "a.json"
    arch.write_text(lm_space.largest().to_json())
    line = _one_error_line(cli("latency", "query", "--device", "nope", "--arch", arch))
    assert "unknown device 'nope'" in line and "cpu-host" in line
    line = _one_error_line(
        cli("latency", "query", "--device", "cpu-host", "--space", "vit-mnist", "--arch", arch)
    )
    assert "embed_dim" in line


def test_fit_csv_on_hat_and_bad_csvs(cli, tmp_path):
    png = tmp_path / "s.png"
    r = cli(
        "latency", "fit", "--csv", HAT / "wmt14ende_cpu_xeon_all.csv", "--features", FEATS, "--target", TGT,
        "--model", "linear,poly2", "--plot", png,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "1800 train / 200 test" in r.stdout and "<- kept" in r.stdout and png.stat().st_size > 1000
    line = _one_error_line(
        cli("latency", "fit", "--csv", HAT / "wmt14ende_cpu_xeon_all.csv", "--features", "x", "--target", TGT)
    )
    assert "missing column" in line and "'x'" in line
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,oops\n5,6\n7,8\n")
    assert "oops" in _one_error_line(cli("latency", "fit", "--csv", bad, "--features", "a", "--target", "b"))


def test_corrupted_predictor_exits_2_and_nothing_is_overwritten(cli, tmp_path, vit_space):
    d = tmp_path / "reg" / "dev"
    d.mkdir(parents=True)
    (d / "vit-mnist.json").write_text('{"format_version": 1, "features": ')
    arch = tmp_path / "a.json"
    arch.write_text(vit_space.smallest().to_json())
    env = {"NAS_PREDICTORS": str(tmp_path / "reg")}
    line = _one_error_line(cli("latency", "query", "--device", "dev", "--arch", arch, env=env))
    assert "corrupted" in line
    assert (d / "vit-mnist.json").read_text() == '{"format_version": 1, "features": '


@pytest.mark.slow
def test_measure_then_fit_a_new_device(cli, tmp_path):
    out = tmp_path / "m.jsonl"
    args = (
        "latency",
        "measure",
        "--space",
        "vit-mnist",
        "--device",
        "mine",
        "--out",
        out,
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--references",
        "2",
    )
    r = cli(*args, "--n", "4")
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 4
    assert raw_json_objects(r.stdout + r.stderr) == []  # a person sees a bar and a summary
    assert "4 architectures of vit-mnist measured (this run: 4 in" in r.stdout and "measure mine:" in r.stderr
    r = cli(*args, "--n", "5", "--log-format", "json")  # resumes: one more line, nothing measured twice
    lines = out.read_text().splitlines()
    assert (
        r.returncode == 0 and len(lines) == 5 and len({json.dumps(json.loads(x)["arch"]) for x in lines}) == 5
    )
    printed = json_lines(r.stdout)  # for scripts: the new line, then a summary object
    assert (
        printed[:-1] == [json.loads(lines[-1])] and printed[-1]["measured"] == 5 and printed[-1]["new"] == 1
    )
    # The resumed run timed the same 2 references as the first (one speed scale per file).
    assert len({tuple(sorted(json.loads(x)["ref_ms"])) for x in lines}) == 1
    assert all(len(json.loads(x)["ref_ms"]) == 2 for x in lines)
    env = {"NAS_PREDICTORS": str(tmp_path / "reg")}
    r = cli(
        "latency",
        "fit",
        "--jsonl",
        out,
        "--device",
        "mine",
        "--model",
        "linear",
        "--test-fraction",
        "0.4",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "reg" / "mine" / "vit-mnist.json").exists()
    r = cli("latency", "list", env=env)
    assert "mine" in r.stdout and "cpu-host" in r.stdout


def test_calibrate_times_the_references_and_reports_the_speed_factor(cli):
    r = cli("latency", "calibrate", "--device", "cpu-host", "--space", "vit-mnist", "--rounds", "2")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["device"] == "cpu-host" and out["space"] == "vit-mnist" and 0.2 < out["speed_factor"] < 5
    assert len(out["references_ms"]) == 4 and min(out["references_ms"].values()) > 0
    assert "nope" in _one_error_line(cli("latency", "calibrate", "--device", "nope", "--space", "vit-mnist"))


def test_calibrate_check_scores_the_predictor_on_fresh_architectures(cli, vit_space):
    """`--check N` times N architectures the campaign did not pick, beside the references, and
    scores the shipped predictor on them raw and on its speed scale."""
    from predictors.check import fresh_archs

    r = cli(
        "latency",
        "calibrate",
        "--device",
        "cpu-host",
        "--space",
        "vit-mnist",
        "--check",
        "6",
        "--rounds",
        "2",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    f = out["speed_factor"]
    assert 0.2 < f < 5 and out["raw"]["n"] == out["on_scale"]["n"] == len(out["archs"]) == 6
    archs = [a["arch"] for a in out["archs"]]
    assert archs == [a.to_dict() for a in fresh_archs(vit_space, 6, seed=1)]
    assert vit_space.smallest().to_dict() not in archs and vit_space.largest().to_dict() not in archs
    # Spread over the FLOPs range, the fresh architectures are ranked as measured.
    assert out["on_scale"]["kendall_tau"] >= 0.6 and 0 <= out["on_scale"]["coverage90_pct"] <= 100
    assert out["raw"]["kendall_tau"] == out["on_scale"]["kendall_tau"]  # one factor moves all alike
    line = _one_error_line(
        cli("latency", "calibrate", "--device", "cpu-host", "--space", "vit-mnist", "--check", "1")
    )
    assert "--check" in line and "1" in line
