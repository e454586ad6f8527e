"""Malformed run folders and bundles, and a few bad inputs through a real process.

Each case must end with exit status 2, exactly one line ``error: ...`` on stderr, no
traceback, and every file that existed before byte for byte as it was.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from bad_input_helpers import SEARCH, SPACE_FILE_TINY, SPACE_TEXT, TRAIN_TEXT
from bad_input_helpers import run_main as _run
from conftest import run_cli

from nas.cli import main


# ---- run folders --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    from nas import runner, search_config

    run = tmp_path_factory.mktemp("tabular") / "run"
    runner.run_search(search_config.check(SEARCH), run, workers=1, progress=False)  # cheap: in the driver
    return run


def _damage_history(lines: list[str], how: str) -> str:
    recs = [json.loads(x) for x in lines]
    r = dict(recs[3])
    if how == "no-index":
        r.pop("index")
    elif how == "bare-42":
        return "\n".join(lines[:3] + ["42"] + lines[4:]) + "\n"
    elif how == "index-abc":
        r["index"] = "abc"
    elif how == "index-bool":
        r["index"] = True
    elif how == "no-metrics":
        r.pop("metrics")
    elif how == "metrics-str":
        r["metrics"] = {"accuracy": "high"}
    elif how == "no-arch":
        r.pop("arch")
    elif how == "arch-junk":
        r["arch"] = {"depth": "x"}
    elif how == "index-999":
        r["index"] = 999
    elif how == "index-negative":
        r["index"] = -1
    elif how == "duplicate-index":
        r["index"] = 2
    elif how == "not-json-middle":
        return "\n".join(lines[:3] + ["{not json"] + lines[4:]) + "\n"
    elif how == "list":
        return "\n".join(lines[:3] + ["[1, 2]"] + lines[4:]) + "\n"
    out = lines[:3] + [json.dumps(r)] + lines[4:]
    return "\n".join(out) + "\n"


HISTORY_DAMAGE = ["no-index", "bare-42", "index-abc", "index-bool", "no-metrics", "metrics-str", "no-arch",
                  "arch-junk", "index-999", "index-negative", "duplicate-index", "not-json-middle", "list"]  # fmt: skip


@pytest.mark.parametrize("how", HISTORY_DAMAGE)
def test_resume_of_a_damaged_history_names_file_and_line(tmp_path, capsys, tabular_run, how):
    run = tmp_path / "run"
    shutil.copytree(tabular_run, run)
    lines = (run / "history.jsonl").read_text().splitlines()
    (run / "history.jsonl").write_text(_damage_history(lines, how))
    _run(capsys, ["search", "--resume", run, "--no-progress"], tmp_path)
    err_run = main(["export", str(run), "--select", "best", "--out", str(tmp_path / "out")])
    assert err_run == 2
    assert "history.jsonl' line 4" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["history-folder", "no-config", "config-bad-yaml", "config-budget-0"])
def test_damaged_run_folders(tmp_path, capsys, tabular_run, how):
    run = tmp_path / "run"
    shutil.copytree(tabular_run, run)
    if how == "history-folder":
        (run / "history.jsonl").unlink()
        (run / "history.jsonl").mkdir()
    elif how == "no-config":
        (run / "config.yaml").unlink()
    elif how == "config-bad-yaml":
        (run / "config.yaml").write_text("space: [\n")
    else:
        raw = yaml.safe_load((run / "config.yaml").read_text())
        (run / "config.yaml").write_text(yaml.safe_dump(dict(raw, budget=0)))
    _run(capsys, ["search", "--resume", run, "--no-progress"], tmp_path)
    _run(capsys, ["export", run, "--select", "pareto", "--out", tmp_path / "out"], tmp_path)


@pytest.mark.parametrize("select", ["nope<=3", "flops<=", "best-ish", "flops<=1"])
def test_bad_export_selections(tmp_path, capsys, tabular_run, select):
    _run(capsys, ["export", tabular_run, "--select", select, "--out", tmp_path / "out"], tmp_path)


# ---- bundles ----------------------------------------------------------------------------------
# the bundle fixture 'tiny_bundle' lives in conftest.py (shared with test_integrity.py)
BUNDLE_DAMAGE = ["no-config", "config-not-json", "config-list", "no-space", "no-arch", "no-weights",
                 "truncated-weights", "arch-mismatch", "space-broken"]  # fmt: skip


@pytest.mark.parametrize("how", BUNDLE_DAMAGE)
def test_damaged_bundles(tmp_path, capsys, tiny_bundle, how):
    from search_spaces import load_space

    b = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, b)
    cfg = json.loads((b / "config.json").read_text())
    if how == "no-config":
        (b / "config.json").unlink()
    elif how == "config-not-json":
        (b / "config.json").write_text("{")
    elif how == "config-list":
        (b / "config.json").write_text("[]")
    elif how in ("no-space", "no-arch"):
        cfg.pop(how[3:])
        (b / "config.json").write_text(json.dumps(cfg))
    elif how == "no-weights":
        shutil.rmtree(b / "weights")
    elif how == "truncated-weights":
        biggest = max((p for p in (b / "weights").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    elif how == "arch-mismatch":
        cfg["arch"] = load_space(SPACE_FILE_TINY).smallest().to_dict()
        (b / "config.json").write_text(json.dumps(cfg))
    else:
        cfg["space"]["max_depth"] = "two"
        (b / "config.json").write_text(json.dumps(cfg))
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 28, 28), np.float32))
    _run(capsys, ["predict", b, x], tmp_path)


# ---- a few through real processes (the console entry point, warnings, logging) -------------
@pytest.mark.parametrize(
    "args",
    [
        ["search", "CFG", "--set", "evaluators=[{kind: callable, target: 'no_such_module_q:f'}]"],
        ["train", "TRAIN", "--set", "learning_rate=.nan"],
        ["spaces", "show", "SPACE"],
    ],
)
def test_bad_inputs_through_a_subprocess(tmp_path, args):
    cfg = tmp_path / "search.yaml"
    cfg.write_text(yaml.safe_dump(SEARCH))
    train = tmp_path / "train.yaml"
    train.write_text(TRAIN_TEXT.replace("experiments/spaces/vit-tiny.yaml", str(SPACE_FILE_TINY)))
    space = tmp_path / "space.yaml"
    space.write_text(SPACE_TEXT.replace("mlp_dim: [32, 64]", "mlp_dim: [0, 32]"))
    sub = {"CFG": cfg, "TRAIN": train, "SPACE": space}
    extra = ["--run-dir", tmp_path / "run"] if args[0] == "search" else []
    out = run_cli(*[sub.get(a, a) for a in args], *extra)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr


def test_finetune_no_onnx_keeps_an_existing_model_onnx(tmp_path, capsys, tiny_bundle):
    b = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, b)
    (b / "model.onnx").write_bytes(b"onnx bytes of the exported weights")
    _run(capsys, ["finetune", b, "--steps", "1", "--no-onnx"], tmp_path)
    assert (b / "model.onnx").read_bytes() == b"onnx bytes of the exported weights"


def test_export_pareto_refuses_a_folder_of_other_files(tmp_path, capsys, tiny_search_run):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    _run(capsys, ["export", tiny_search_run, "--select", "pareto", "--out", out, "--no-onnx"], tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
