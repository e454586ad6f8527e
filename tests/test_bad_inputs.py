"""Malformed inputs of every kind a user hands the CLI, generated from valid ones.

Each case runs ``nas ...`` in-process (a few through a real subprocess) and must
end with exit status 2, exactly one line ``error: ...`` on stderr, no traceback,
and every file that existed before byte for byte as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_cli

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


def _search_cases():
    bad_values = {
        "space": [5, "no-such-space", {"name": "x"}, [1]],
        "evaluators": [[], 5, [{"kind": "oracle"}], [{"kind": "table"}], [{"kind": "table", "path": "/no.jsonl"}],
                       [{"kind": "callable", "target": "nomodule"}], [{"kind": "complexity", "batch_size": "x"}],
                       [{"kind": "complexity", "seq_len": -1}], [{"kind": "table", "path": str(TABLE_FILE), "x": 1}],
                       [{"kind": "callable", "target": "no_such_module_zz:f"}],
                       [{"kind": "callable", "target": "experiments.toy_evaluators:synthetic", "cheap": "yes"}],
                       [{"kind": "supernet", "workdir": "/no/such/workdir"}]],
        "objectives": [[], "x", [{"metric": "accuracy", "goal": "up"}], ["max nope"], [5]],
        "constraints": ["params <> 3", 5, [5], ["nope <= 3"], ["flops <= 1"]],
        "strategy": [5, {"name": "nope"}, {"name": "nsga2", "popsize": 3}, [1]],
        "budget": [0, -1, "x", 1.5, True, None],
        "seed": [-1, "a", 1.5],
        "workers": [0, "two"],
        "lag": [0, "x"],
        "batch_size": [0, []],
        "pool": [3, "/nonexistent.jsonl"],
        "hv_reference": ["x", [1], [1, "a"]],
    }  # fmt: skip
    for key, values in bad_values.items():
        for v in values:
            yield f"search-{key}={v!r}"[:60], yaml.safe_dump(dict(SEARCH, **{key: v})), []
    for key in ("space", "evaluators", "objectives"):
        yield f"search-no-{key}", yaml.safe_dump({k: v for k, v in SEARCH.items() if k != key}), []
    text = yaml.safe_dump(SEARCH)
    yield "search-duplicate-key", text + "budget: 5\n", []
    yield "search-bad-yaml", text + "budget: [\n", []
    yield "search-top-level-list", "- 1\n- 2\n", []
    yield "search-unknown-field", text + "budgett: 5\n", []
    for sets in (["budget"], ["budget=[1"], ["nope=1"], ["seed.x=1"], ["=3"], ["a..b=1"]):
        yield f"search-set-{sets[0]}", text, sets


def _train_cases():
    bad = {
        "learning_rate": ["-0.1", ".nan", "0", "x", ".inf"],
        "warmup_steps": ["-3", "1.5"],
        "eval_max_examples": ["-5", "0"],
        "steps": ["0", "x"],
        "batch_size": ["0"],
        "weight_decay": ["-1", ".inf"],
        "clip_norm": ["0"],
        "seed": ["-2"],
        "sampler": ["x", "{name: nope}"],
        "space": ["no-such-space", "5"],
        "distill": ["yes-please"],
    }
    for key, values in bad.items():
        for v in values:
            lines = [ln for ln in TRAIN_TEXT.splitlines() if not ln.startswith(f"{key}:")]
            if key == "sampler":
                lines = [ln for ln in lines if not ln.startswith(("sampler:", "  name:", "  options:"))]
            yield f"train-{key}={v}", "\n".join(lines) + f"\n{key}: {v}\n", []
    yield "train-duplicate-key", TRAIN_TEXT + "steps: 3\n", []
    yield "train-unknown-field", TRAIN_TEXT + "stepz: 3\n", []
    yield "train-bad-yaml", TRAIN_TEXT + "steps: [\n", []
    for sets in (["learning_rate=[1"], ["steps"], ["learning_rate=.nan"], ["sampler.options=3"]):
        yield f"train-set-{sets[0]}", TRAIN_TEXT, sets


def _space_cases():
    def edit(old, new):
        assert old in SPACE_TEXT
        return SPACE_TEXT.replace(old, new)

    yield "space-embed-0", edit("embed_dim: [32]", "embed_dim: [0]")
    yield "space-embed-scalar-0", edit("embed_dim: [32]", "embed_dim: 0")
    yield "space-mlp-0", edit("mlp_dim: [32, 64]", "mlp_dim: [0, 32]")
    yield "space-heads-neg", edit("num_heads: [1, 2]", "num_heads: [-1, 2]")
    yield "space-heads-str", edit("num_heads: [1, 2]", "num_heads: [a, 2]")
    yield "space-depth-99", edit("depth: [1, 2]", "depth: [1, 99]")
    yield "space-depth-str", edit("depth: [1, 2]", "depth: [x]")
    yield "space-max-depth-neg", edit("max_depth: 2", "max_depth: -1")
    yield "space-max-depth-str", edit("max_depth: 2", "max_depth: two")
    yield "space-no-name", edit("name: vit-tiny\n", "")
    yield "space-no-max-depth", edit("max_depth: 2\n", "")
    yield "space-duplicate-key", SPACE_TEXT + "max_depth: 3\n"
    yield "space-duplicate-dim", edit("  mlp_dim: [32, 64]\n", "  mlp_dim: [32, 64]\n  mlp_dim: [16]\n")
    yield "space-unknown-field", SPACE_TEXT + "colour: red\n"
    yield "space-bad-yaml", SPACE_TEXT + "global: [\n"
    yield "space-empty", ""
    yield "space-list", "- 1\n"
    yield "space-global-scalar", edit("global:\n  embed_dim: [32]\n  depth: [1, 2]\n", "global: 5\n")
    yield "space-both-global-and-layer", edit("  depth: [1, 2]\n", "  depth: [1, 2]\n  num_heads: [1]\n")
    yield "space-depth-per-layer", edit("  num_heads: [1, 2]\n", "  num_heads: [1, 2]\n  depth: [1]\n")


ARCH_CASES = [
    "{",
    "[]",
    "5",
    "null",
    "",
    "{}",
    '{"depth": 99}',
    '{"depth": "x"}',
    '{"depth": 2, "embed_dim": 32}',
    '{"depth": 1, "embed_dim": 32, "num_heads": [1], "mlp_dim": [32], "attn_type": ["linear"], "x": 1}',
    '{"depth": 2, "embed_dim": 32, "num_heads": [1], "mlp_dim": [32], "attn_type": ["linear"]}',
    '{"depth": 1, "embed_dim": 33, "num_heads": [1], "mlp_dim": [32], "attn_type": ["linear"]}',
    '{"depth": 1, "embed_dim": 32, "num_heads": [3], "mlp_dim": [32], "attn_type": ["linear"]}',
    '{"depth": 1, "embed_dim": 32, "num_heads": 1, "mlp_dim": [32], "attn_type": ["linear"]}',
    '{"depth": 1, "embed_dim": 32, "num_heads": [1], "mlp_dim": [32], "attn_type": ["nope"]}',
    '{"depth": 1, "embed_dim": [32], "num_heads": [1], "mlp_dim": [32], "attn_type": ["linear"]}',
    '{"depth": 1, "embed_dim": 32, "num_heads": [1, 2], "mlp_dim": [32], "attn_type": ["linear"]}',
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_clean_error(rc, err, before, root):
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    after = _snapshot(root)
    for path, data in before.items():  # nothing lost or changed
        assert after.get(path) == data, path


def _run(capsys, argv, root):
    before = _snapshot(root)
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    _assert_clean_error(rc, capsys.readouterr().err, before, root)


@pytest.mark.parametrize(
    "name, text, sets", list(_search_cases()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_bad_search_configs(tmp_path, capsys, name, text, sets):
    cfg = tmp_path / "search.yaml"
    cfg.write_text(text)
    argv = ["search", cfg, "--run-dir", tmp_path / "run", "--no-progress"]
    _run(capsys, argv + [x for s in sets for x in ("--set", s)], tmp_path)
    assert not (tmp_path / "run" / "history.jsonl").exists()


@pytest.mark.parametrize(
    "name, text, sets", list(_train_cases()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_bad_train_configs(tmp_path, capsys, name, text, sets):
    (tmp_path / "spaces").mkdir()
    cfg = tmp_path / "train.yaml"
    cfg.write_text(text.replace("experiments/spaces/vit-tiny.yaml", str(SPACE_FILE_TINY)))
    _run(capsys, ["train", cfg, "--workdir", tmp_path / "w", "--quiet"] + [x for s in sets for x in ("--set", s)],
         tmp_path)  # fmt: skip
    assert not (tmp_path / "w" / "checkpoints").exists()


@pytest.mark.parametrize("name, text", list(_space_cases()), ids=lambda x: x if isinstance(x, str) else "")
def test_bad_space_files(tmp_path, capsys, name, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    _run(capsys, ["spaces", "show", path], tmp_path)


@pytest.mark.parametrize("text", ARCH_CASES)
def test_bad_arch_files(tmp_path, capsys, text):
    path = tmp_path / "arch.json"
    path.write_text(text)
    _run(capsys, ["spaces", "validate", SPACE_FILE_TINY, path], tmp_path)


def _error_line(capsys, argv) -> str:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    return err


def test_extra_per_layer_values_name_field_values_and_place(tmp_path, capsys):
    """A per-layer list longer than the depth is not cut silently, wherever an arch is read."""
    bad = {"depth": 4, "embed_dim": 64, "num_heads": [2, 1, 1, 1, 4, 4], "mlp_dim": [64] * 4,
           "attn_type": ["softmax"] * 4}  # fmt: skip
    why = "invalid architecture: field 'num_heads' has value [2, 1, 1, 1, 4, 4]: has 6 values but depth is 4"
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(bad))
    assert _error_line(capsys, ["spaces", "validate", SPACE_FILE, arch]) == f"error: {arch}: {why}"

    from search_spaces import load_space

    good = load_space("vit-mnist").largest().to_dict()  # depth 6
    heads = good["num_heads"] + [1, 1]
    archs = tmp_path / "archs.jsonl"
    archs.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, num_heads=heads)) + "\n")
    err = _error_line(
        capsys, ["latency", "query", "--device", "cpu-host", "--space", "vit-mnist", "--archs", archs]
    )
    assert err == (
        f"error: {archs} line 2: invalid architecture: field 'num_heads' has value {heads!r}: "
        "has 8 values but depth is 6"
    )

    rows = TABLE_FILE.read_text().splitlines()
    row = json.loads(rows[1])
    row["arch"] = dict(row["arch"], num_heads=row["arch"]["num_heads"] + [4, 4])
    table = tmp_path / "table.jsonl"
    table.write_text("\n".join([rows[0], json.dumps(row), *rows[2:]]) + "\n")
    cfg = tmp_path / "search.yaml"
    cfg.write_text(yaml.safe_dump(dict(SEARCH, evaluators=[{"kind": "table", "path": str(table)}])))
    err = _error_line(capsys, ["search", cfg, "--run-dir", tmp_path / "run", "--no-progress"])
    assert err.startswith(f"error: table '{table}' line 2: ") and "field 'num_heads' has value [" in err, err
    assert f"has {row['arch']['depth'] + 2} values but depth is {row['arch']['depth']}" in err, err


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
@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    """A bundle in the format write_bundle writes (config.json + Orbax weights), built directly."""
    import jax
    import orbax.checkpoint as ocp

    from nas.export.bundle import FORMAT_VERSION
    from search_spaces import load_space
    from supernet import standalone

    space = load_space(SPACE_FILE_TINY)
    arch = space.largest()
    path = tmp_path_factory.mktemp("bundle") / "b"
    path.mkdir()
    variables = standalone.init(space, arch, jax.random.key(0))
    ckpt = ocp.StandardCheckpointer()
    ckpt.save((path / "weights").absolute(), variables)
    ckpt.wait_until_finished()
    config = {"format_version": FORMAT_VERSION, "space": space.to_dict(), "arch": arch.to_dict()}
    (path / "config.json").write_text(json.dumps(config))
    return path


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
