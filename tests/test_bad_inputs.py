"""Malformed inputs of every kind a user hands the CLI, generated from valid ones.

Each case runs ``nas ...`` in-process (a few through a real subprocess) and must
end with exit status 2, exactly one line ``error: ...`` on stderr, no traceback,
and every file that existed before byte for byte as it was.
"""

from __future__ import annotations

import json

import pytest
import yaml
from bad_input_helpers import SEARCH, SPACE_FILE_TINY, SPACE_TEXT, TRAIN_TEXT
from bad_input_helpers import run_main as _run

from experiments.make_tabular import SPACE_FILE, TABLE_FILE
from nas.cli import main


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
