"""A device fitted on another tool's CSV scores a search: its columns mapped to the architecture."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import SHARED

from predictors import hat
from search_spaces import NasError, load_space

SPACE = {  # HAT's decoder choices (Wang et al., ACL 2020)
    "name": "hat-decoder",
    "max_depth": 6,
    "global": {"embed_dim": [512, 640], "depth": [1, 2, 3, 4, 5, 6]},
    "layer": {"mlp_dim": [1024, 2048, 3072], "num_heads": [4, 8]},
    "task": {"kind": "lm", "vocab_size": 1000, "seq_len": 32, "head_dim": 64},
}
COLUMNS = {  # HAT's encoder held at its largest, the decoder searched
    "encoder_embed_dim": 640, "encoder_layer_num": 6, "encoder_ffn_embed_dim_avg": 3072,
    "encoder_self_attention_heads_avg": 8, "decoder_embed_dim": "embed_dim", "decoder_layer_num": "depth",
    "decoder_ffn_embed_dim_avg": "mean(mlp_dim)", "decoder_self_attention_heads_avg": "mean(num_heads)",
    "decoder_ende_attention_heads_avg": "mean(num_heads)", "decoder_arbitrary_ende_attn_avg": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def hat_xeon(tmp_path_factory):
    """HAT's real Xeon measurements fitted as device 'hat-xeon', and the space's YAML file."""
    from predictors.fitting import fit_and_score
    from predictors.tabular import load_table, save_table

    d = tmp_path_factory.mktemp("csvdev")
    csv = SHARED / "data" / "hat" / "wmt14ende_cpu_xeon_all.csv"
    X, y, cols = load_table(csv, list(hat.FEATURES), list(hat.TARGETS))
    r = fit_and_score(X, y, candidates=("linear",), seed=0, test_fraction=0.1)
    save_table(r, csv, cols, list(hat.TARGETS), device="hat-xeon", root=d / "reg")
    (d / "space.yaml").write_text(yaml.safe_dump(SPACE))
    return d


def _load(hat_xeon, monkeypatch, columns):
    from nas import evaluators

    monkeypatch.setenv("NAS_PREDICTORS", str(hat_xeon / "reg"))
    space = load_space(str(hat_xeon / "space.yaml"))
    return space, evaluators.load({"kind": "latency", "device": "hat-xeon", "columns": columns}, space)


def test_mapped_columns_predict_real_latency_of_architectures(hat_xeon, monkeypatch):
    space, pred = _load(hat_xeon, monkeypatch, COLUMNS)
    a = space.parse({"embed_dim": 512, "depth": 2, "mlp_dim": [1024, 3072], "num_heads": [4, 8]})
    assert (
        pred.rows([a])[0]["decoder_ffn_embed_dim_avg"] == 2048 and pred.rows([a])[0]["decoder_layer_num"] == 2
    )
    # On the real Xeon measurements each decoder layer costs time: deeper is slower.
    depths = [space.parse({"embed_dim": 640, "depth": d, "mlp_dim": [2048] * d, "num_heads": [8] * d})
              for d in range(1, 7)]  # fmt: skip
    ms = pred.predict(depths)
    assert (np.diff(ms) > 0).all() and ms[-1] > 1.5 * ms[0]
    q90 = pred.predict_quantile(depths, 0.9)
    assert (q90 > ms).all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"decoder_layer_num": None}, "not mapped: \\['decoder_layer_num'\\]"),
        ({"nope": 1}, "not among them: \\['nope'\\]"),
        ({"decoder_ffn_embed_dim_avg": "mlp_dim"}, "'mlp_dim' is per-layer: use mean\\(mlp_dim\\)"),
        ({"decoder_layer_num": "layers"}, "'layers' is not a dimension of space 'hat-decoder'"),
        ({"decoder_ffn_embed_dim_avg": "median(mlp_dim)"}, "use one of \\['mean\\(mlp_dim\\)'"),
        ({"decoder_layer_num": "count(depth=2)"}, "'depth' is not a per-layer dimension"),
        ({"decoder_layer_num": "'six'"}, "decoder_layer_num.*'six' is not a number"),
    ],
)
def test_bad_mappings_name_the_column(hat_xeon, monkeypatch, change, message):
    columns = {k: v for k, v in {**COLUMNS, **change}.items() if v is not None}
    with pytest.raises(NasError, match=message):
        _load(hat_xeon, monkeypatch, columns)


def test_a_search_under_a_chance_constraint_on_the_csv_device(cli, hat_xeon, tmp_path):
    cfg = {
        "space": str(hat_xeon / "space.yaml"),
        "evaluators": [{"kind": "complexity"}, {"kind": "latency", "device": "hat-xeon", "columns": COLUMNS}],
        "objectives": [
            {"metric": "params", "goal": "max"},
            {"metric": "latency_ms[hat-xeon]", "goal": "min"},
        ],
        "constraints": ["latency_ms[hat-xeon].q90 <= 250"],
        "strategy": {"name": "random"},
        "budget": 24,
        "seed": 0,
    }
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli("search", path, "--run-dir", tmp_path / "run", env={"NAS_PREDICTORS": str(hat_xeon / "reg")})
    assert r.returncode == 0, r.stderr[-3000:]
    recs = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert len(recs) == 24
    mean = [x["metrics"]["latency_ms[hat-xeon]"] for x in recs]
    bound = [x["metrics"]["latency_ms[hat-xeon].q90"] for x in recs]
    assert all(b > m > 0 for m, b in zip(mean, bound, strict=True))
    best = json.loads((tmp_path / "run" / "pareto.json").read_text())
    front = best if isinstance(best, list) else best.get("front", best.get("pareto", []))
    assert front and all(x["metrics"]["latency_ms[hat-xeon].q90"] <= 250 for x in front)
