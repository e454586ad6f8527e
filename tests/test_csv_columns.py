"""Other tools' CSVs as they come: columns of names (one-hot), default features, `;` files,
blank lines; identifiers and mixed columns refused with the column named."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import SHARED

import predictors
from predictors import hat
from predictors.tabular import load_table
from search_spaces import NasError

HAT = SHARED / "data" / "hat"
FILES = {
    "raspberrypi": "wmt14ende_cpu_raspberrypi_all.csv",
    "xeon": "wmt14ende_cpu_xeon_all.csv",
    "titanxp": "wmt14ende_gpu_titanxp_all.csv",
}
COLS = [*hat.FEATURES, "device", *hat.TARGETS]


@pytest.fixture(scope="module")
def three_devices(tmp_path_factory):
    """HAT's three real files as one table with a `device` column of names: 300 rows each,
    `;`-separated, a blank line after each device (as a spreadsheet export may have)."""
    path = tmp_path_factory.mktemp("csv") / "hat3.csv"
    lines = [";".join(COLS)]
    for dev, name in FILES.items():
        with open(HAT / name, newline="") as f:
            rows = list(csv.DictReader(f))[:300]
        lines += [";".join(dev if c == "device" else r[c] for c in COLS) for r in rows] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_column_of_names_is_one_hot_and_carries_the_device(three_devices):
    X, y, cols = load_table(three_devices, None, list(hat.TARGETS))  # every other column
    assert cols.names == (*hat.FEATURES, "device") and cols.categories == {
        "device": ("raspberrypi", "titanxp", "xeon")
    }
    assert X.shape == (900, len(hat.FEATURES) + 3) and (X[:, -3:].sum(1) == 1).all()
    from predictors import models
    from predictors.metrics import evaluate
    from predictors.tabular import split

    tr, te = split(len(y))
    trees = models.get("trees")

    def held_out(Z):
        return evaluate(y[te], trees.predict(trees.fit(Z[tr], y[tr]), Z[te])[0])["within10_pct"]

    # Pi, Xeon and GPU latencies differ by 10x+: without the names no model can tell them apart.
    assert held_out(X) > 60 > 3 * held_out(X[:, :-3])


def test_fit_save_query_by_name_and_unknown_names_refused(cli, three_devices, tmp_path, monkeypatch):
    env = {"NAS_PREDICTORS": str(tmp_path / "reg")}
    r = cli(
        "latency", "fit", "--csv", three_devices, "--target", ",".join(hat.TARGETS), "--model", "trees",
        "--device", "hat3", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "device ['raspberrypi', 'titanxp', 'xeon']" in r.stdout and "810 train / 90 test" in r.stdout
    meta = json.loads((tmp_path / "reg" / "hat3" / "csv-table.json").read_text())
    assert meta["categories"] == {"device": ["raspberrypi", "titanxp", "xeon"]}
    with open(HAT / FILES["raspberrypi"], newline="") as f:
        first = next(csv.DictReader(f))
    row = ",".join(f"{c}={first[c]}" for c in hat.FEATURES)
    pi, gpu = (json.loads(cli("latency", "query", "--device", "hat3", "--row", f"{row},device={d}", env=env).stdout)
               for d in ("raspberrypi", "titanxp"))  # fmt: skip
    assert pi["row"]["device"] == "raspberrypi" and pi["latency_ms"] > 5 * gpu["latency_ms"]
    bad = cli("latency", "query", "--device", "hat3", "--row", f"{row},device=jetson", env=env)
    assert (
        bad.returncode == 2 and "'device'" in bad.stderr and "jetson" in bad.stderr and "xeon" in bad.stderr
    )
    r = cli("latency", "query", "--device", "hat3", "--csv", three_devices, env=env)
    outs = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 0 and len(outs) == 900 and outs[-1]["row"]["device"] == "titanxp"
    assert outs[0]["latency_ms"] == pytest.approx(pi["latency_ms"])
    # From Python: rows as dicts, a category by its name.
    monkeypatch.setenv("NAS_PREDICTORS", str(tmp_path / "reg"))
    rec = {c: float(first[c]) for c in hat.FEATURES}
    mean, _ = predictors.load("hat3").table.predict_records([{**rec, "device": "raspberrypi"}])
    assert mean[0] == pytest.approx(pi["latency_ms"], rel=1e-4)
    with pytest.raises(NasError, match="'device' value 'jetson'"):
        predictors.load("hat3").table.predict_records([{**rec, "device": "jetson"}])


def test_identifiers_and_mixed_columns_are_named(tmp_path):
    ident = tmp_path / "ident.csv"
    ident.write_text("model,macs,ms\n" + "".join(f"net{i},{i + 1},{2 * i + 1}\n" for i in range(20)))
    with pytest.raises(NasError, match="column 'model' has 20 distinct names in 20 rows.*identifier"):
        load_table(ident, None, ["ms"])
    X, _, cols = load_table(ident, ["macs"], ["ms"])  # leaving it out works
    assert X.shape == (20, 1) and not cols.categories
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("macs,prec,ms\n1,fp16,2\n2,fp16,3\n3,8,4\n4,int8,5\n")
    with pytest.raises(NasError, match=r"column 'prec' mixes numbers and text \(line 4: '8'\)"):
        load_table(mixed, None, ["ms"])
    empty = tmp_path / "empty.csv"
    empty.write_text("macs,ms\n1,2\n,3\n3,4\n4,5\n")
    with pytest.raises(NasError, match="column 'macs' line 3 is empty"):
        load_table(empty, None, ["ms"])
    assert np.isfinite(load_table(mixed, ["macs"], ["ms"])[0]).all()
