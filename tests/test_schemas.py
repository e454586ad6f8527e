"""The schemas of our formats and the checks of meaning at config load: one line naming the
file, the field and the value; every shipped space and config still loads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from bad_input_helpers import SEARCH, SPACE_TEXT
from conftest import ROOT

from search_spaces.errors import NasError

SPACE = yaml.safe_load(SPACE_TEXT)


def _err(fn, *args, **kwargs) -> str:
    with pytest.raises(NasError) as e:
        fn(*args, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_every_schema_is_a_valid_draft_2020_12_schema():
    import jsonschema

    files = sorted(ROOT.glob("*/schemas/*.schema.json"))
    assert [f.name for f in files] == [
        "bundle.schema.json", "search.schema.json", "predictor.schema.json", "space.schema.json",
        "task.schema.json", "train.schema.json",
    ]  # fmt: skip
    for f in files:
        jsonschema.Draft202012Validator.check_schema(json.loads(f.read_text()))


def test_the_training_schema_lists_every_config_field_and_checks_what_the_merge_does_not():
    from search_spaces.schema import load_schema
    from supernet.config import DEFAULTS, load_config

    schema = load_schema("supernet", "train")
    assert set(schema["properties"]) == set(DEFAULTS)
    assert set(schema["properties"]["sampler"]["properties"]) == set(DEFAULTS["sampler"])
    for over, needle in (
        (["sampler.cost=params"], "config: field 'sampler.cost' is 'params'; choose one of ['flops', 'latency', None]"),
        (["space=''"], "config: field 'space': expected at least 1 characters, got ''"),
        (["crash_after_step=-1"], "config: field 'crash_after_step': expected an integer >= 0, got -1"),
    ):
        assert _err(load_config, None, over) == needle


def test_builtin_spaces_and_shipped_configs_load():
    from nas import search_config
    from search_spaces import builtin_names, load_space
    from supernet.config import load_config

    for name in builtin_names():
        assert load_space(name).task["head_dim"] >= 1
    for f in sorted((ROOT / "experiments").rglob("*.yaml")):
        raw = yaml.safe_load(f.read_text())
        if "max_depth" in raw:
            load_space(f)
        elif "evaluators" in raw:
            search_config.check(raw, source=str(f))
        else:
            load_config(f)


@pytest.mark.parametrize(
    "task, needle",
    [
        ({"kind": "vit"}, "field 'task' must state its geometry: 'vocab_size' + 'seq_len'"),
        ({"kind": "vit", "head_dim": 8, "image_size": 28, "channels": 1, "num_classes": 10},
         "field 'task.patch_size' is missing (needed with 'image_size')"),
        ({"kind": "lm", "head_dim": 8, "vocab_size": 300}, "field 'task.seq_len' is missing (needed with 'vocab_size')"),
        ({**SPACE["task"], "ln_eps": math.nan}, "field 'task.ln_eps': expected a finite number, got nan"),
        ({**SPACE["task"], "image_size": [28]}, "field 'task.image_size': expected at least 2 items, got [28]"),
        ({**SPACE["task"], "channels": "1"}, "field 'task.channels': expected an integer, got '1'"),
        ({"head_dim": 8, "vocab_size": 30, "seq_len": 8}, "field 'task.kind' is missing"),
    ],
)  # fmt: skip
def test_a_task_block_states_its_geometry(task, needle):
    from search_spaces import space_from_dict

    msg = _err(space_from_dict, dict(SPACE, task=task), source="space file 's.yaml'")
    assert msg.startswith(f"space file 's.yaml': {needle}"), msg


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"objectives": ["max accuracy", "min accuracy"]},
         "field 'objectives[1]': metric 'accuracy' is both maximized and minimized"),
        ({"objectives": ["max accuracy", {"metric": "accuracy", "goal": "max"}]},
         "field 'objectives[1]': metric 'accuracy' is named twice"),
        ({"constraints": ["flops <= 4e6", "flops < 3e6"]},
         "field 'constraints[1]': metric 'flops' is constrained twice the same way"),
        ({"constraints": ["flops <= 4e6", "flops == 3e6"]},
         "field 'constraints[1]': metric 'flops' is constrained twice the same way"),
        ({"constraints": ["flops <= 4e6", "flops > 4e6"]},
         "field 'constraints[1]': 'flops > 4e+06' and 'flops <= 4e+06' (constraints[0]) leave no value"),
        ({"constraints": ["flops <= 4e6", "latency_ms[cpu-host] <= 3"]},
         "field 'constraints[1]': metric 'latency_ms[cpu-host]' is not given by any evaluator"),
        ({"evaluators": [{"kind": "supernet", "workdir": "w"}], "space": "lm-shakespeare", "constraints": []},
         "field 'objectives[0]': metric 'accuracy' is not given by any evaluator; they give ['loss', 'perplexity']"),
        ({"budget": math.nan}, "field 'budget': expected an integer >= 1 (evaluations), got nan"),
        ({"hv_reference": [1.0, math.inf]}, "field 'hv_reference[1]': expected a finite number, got inf"),
        ({"evaluators": [{"kind": "table", "path": "t.jsonl", "colour": 1}]},
         "unknown field 'evaluators[0].colour'; allowed fields are ['fields', 'free', 'kind', 'metrics', 'path']"),
    ],
)  # fmt: skip
def test_a_search_config_is_checked_for_meaning(change, needle):
    from nas import search_config

    msg = _err(search_config.check, dict(SEARCH, **change), source="search config 's.yaml'")
    assert msg.startswith(f"search config 's.yaml': {needle}"), msg


def test_a_range_on_one_metric_is_fine():
    from nas import search_config

    cfg = search_config.check(dict(SEARCH, constraints=["flops >= 1e5", "flops <= 4e6"]))
    assert [str(c) for c in cfg.constraints] == ["flops >= 100000", "flops <= 4e+06"]


@pytest.fixture()
def shipped_copy(tmp_path) -> Path:
    from predictors import registry

    js = tmp_path / "vit-mnist.json"
    for ext in (".json", ".npz"):
        js.with_suffix(ext).write_bytes((registry.SHIPPED / "cpu-host" / f"vit-mnist{ext}").read_bytes())
    return js


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda m: m.update(features=list(m["features"].values())), "field 'features': expected the feature definition"),
        (lambda m: m.update(references="fast"), "field 'references': expected a mapping of reference architecture"),
        (lambda m: m["fingerprint"].pop("batch_size"), "field 'fingerprint.batch_size' is missing"),
        (lambda m: m["features"].update(colour=1), "unknown field 'features.colour'"),
        (lambda m: m.update(npz_sha256="abc"), "field 'npz_sha256': expected 64 hex digits, got 'abc'"),
        (lambda m: m["peak_mb"].update(model=[1]), "field 'peak_mb.model': expected a string, got [1]"),
    ],
)  # fmt: skip
def test_a_predictor_file_is_checked_field_by_field(shipped_copy, edit, needle):
    """The issue's tracebacks (a feature block as a list, references as a string, a fingerprint
    without batch_size) are one line naming the field."""
    from predictors import registry

    meta = json.loads(shipped_copy.read_text())
    edit(meta)
    shipped_copy.write_text(json.dumps(meta))
    msg = _err(registry.load_part, shipped_copy)
    assert msg.startswith(f"predictor file '{shipped_copy}': {needle}"), msg


def test_a_bundle_config_is_checked_field_by_field(tmp_path, tiny_bundle):
    import shutil

    from nas.export.load import read_config

    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    cfg = json.loads((b / "config.json").read_text())
    rel = next(iter(cfg["checksums"]))
    for change, needle in [
        ({"colour": 1}, "unknown field 'colour'"),
        ({"arch": [1]}, "field 'arch': expected an architecture"),
        ({"checksums": {rel: {"sha256": "x", "size": 3}}}, f"field 'checksums.{rel}.sha256'"),
        ({"checksums": {"../x": cfg["checksums"][rel]}}, "field 'checksums' has a key that is not allowed"),
        ({"format_version": True}, "field 'format_version' is True"),
    ]:
        (b / "config.json").write_text(json.dumps(dict(cfg, **change)))
        msg = _err(read_config, b)
        assert needle in msg and str(b / "config.json") in msg, msg


def test_the_search_schema_knows_every_evaluator_kind_and_option():
    """The schema is the format's reference: a new evaluator kind or option must be added there."""
    from nas import evaluators

    schema = json.loads((ROOT / "nas/schemas/search.schema.json").read_text())["$defs"]["evaluator"]
    assert schema["properties"]["kind"]["enum"] == list(evaluators.KINDS)
    for rule in schema["allOf"]:
        kind = rule["if"]["properties"]["kind"]["const"]
        assert set(rule["then"]["properties"]) - {"kind"} == set(evaluators.KINDS[kind].options), kind
