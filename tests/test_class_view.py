"""A classifier's validation seen per class: ``nas train`` prints what was read and the
validation size beside its accuracies, ``nas eval`` gives per-class accuracy and the
confusion matrix, and the bundle's card shows both (supernet/tasks/data_report.py,
supernet/tasks/labelled.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from supernet.tasks.labelled import breakdown

SPACE = {
    "name": "img-classes",
    "max_depth": 1,
    "global": {"embed_dim": [8]},
    "layer": {"num_heads": [1], "mlp_dim": [8], "attn_type": ["linear"]},
    "task": {"kind": "vit", "image_size": 4, "patch_size": 2, "channels": 1, "num_classes": 3, "head_dim": 8},
}


SPACE_ARCH = {"embed_dim": 8, "depth": 1, "num_heads": [1], "mlp_dim": [8], "attn_type": ["linear"]}


def test_breakdown_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 0, 1])
    b = breakdown(y, pred, ["a", "b", "c", "d"])
    assert b["confusion"]["matrix"] == [[2, 1, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    assert b["per_class"]["a"] == {"accuracy": 2 / 3, "examples": 3}
    assert b["per_class"]["c"] == {"accuracy": 0.0, "examples": 1}
    assert b["per_class"]["d"] == {"accuracy": None, "examples": 0}
    assert b["accuracy"] == 0.5 and b["examples"] == 6 and b["accuracy_step"] == 1 / 6


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 3-class image folder (a stray text file in it) trained 2 steps through ``nas train``'s
    library entry, its stdout captured."""
    import contextlib
    import io

    from PIL import Image

    from nas import terminal
    from nas.cli_train import train
    from supernet.config import load_config

    root = tmp_path_factory.mktemp("classes")
    rng = np.random.default_rng(0)
    for c, n in (("ant", 8), ("bee", 6), ("cow", 6)):
        (root / "img" / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (4, 4), dtype=np.uint8)).save(root / "img" / c / f"{i}.png")
    (root / "img" / "ant" / "notes.txt").write_text("not an image")
    (root / "space.yaml").write_text(yaml.safe_dump(SPACE))
    (root / "train.yaml").write_text(
        yaml.safe_dump(
            {
                "space": "space.yaml",
                "steps": 2,
                "batch_size": 4,
                "eval_batch_size": 3,
                "warmup_steps": 1,
                "data": {"train": "img", "val_fraction": 0.4},
            }  # fmt: skip
        )
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        train(load_config(root / "train.yaml"), root / "w", terminal.Terminal("human"))
    return root, out.getvalue()


def test_training_prints_what_was_read_and_the_validation_size(run):
    root, out = run
    lines = out.splitlines()
    assert lines[0] == f"data: 3 classes, 20 examples read from {root / 'img'}"
    assert lines[2].startswith("  validation       8 (data.val_fraction 0.4): ant ")
    assert f"{root / 'img' / 'ant' / 'notes.txt'}: not an image (.txt)" in out
    # 8 held out, evaluated in whole batches of 3: 6 examples, accuracy moves in steps of 1/6
    assert "  on 6 validation examples (accuracy in steps of 0.167)" in lines
    assert json.loads((root / "w" / "data.json").read_text())["val"]["examples"] == 8


def test_a_search_over_the_run_says_what_its_accuracy_stands_on(run):
    from types import SimpleNamespace

    from nas.run_outputs import val_examples
    from nas.terminal import search_summary

    root, _ = run
    cfg = SimpleNamespace(
        evaluators=[{"kind": "complexity"}, {"kind": "supernet", "workdir": str(root / "w")}]
    )
    assert val_examples(cfg) == 6
    best = {"arch": SPACE_ARCH, "metrics": {"accuracy": 0.5, "flops": 1000.0}}
    lines = search_summary(
        evaluations=4, new=4, seconds=1.0, hypervolume=0.1, run_dir="r", best=best, val_examples=6
    )
    assert any(ln.strip() == "accuracy on 6 validation examples (steps of 0.167)" for ln in lines)


def test_eval_gives_per_class_accuracy_and_the_confusion_matrix(run, capsys):
    from nas.cli import main

    root, _ = run
    arch = {"embed_dim": 8, "depth": 1, "num_heads": [1], "mlp_dim": [8], "attn_type": ["linear"]}
    (root / "arch.json").write_text(json.dumps(arch))
    capsys.readouterr()
    assert main(["eval", "--workdir", str(root / "w"), "--arch", str(root / "arch.json")]) == 0
    (r,) = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert r["val_examples"] == 6 and r["accuracy_step"] == pytest.approx(1 / 6)
    m = np.array(r["confusion"]["matrix"])
    assert r["confusion"]["classes"] == ["ant", "bee", "cow"] and m.sum() == 6
    assert r["accuracy"] == pytest.approx(np.trace(m) / 6)
    for i, c in enumerate(["ant", "bee", "cow"]):
        assert r["per_class"][c]["examples"] == m[i].sum()
        if m[i].sum():
            assert r["per_class"][c]["accuracy"] == pytest.approx(m[i, i] / m[i].sum())


def test_the_card_shows_the_data_and_the_per_class_view(run, tmp_path):
    from nas.export.bundle import write_bundle
    from nas.export.from_run import validation_view
    from supernet import checkpoint
    from supernet.evaluation import evaluate
    from supernet.extract import extract

    root, _ = run
    space, params, cfg = checkpoint.load(root / "w")
    arch = space.largest()
    seen = validation_view(space, params, cfg, root / "w")(arch)
    (acc,) = [m["accuracy"] for m in evaluate(space, params, [arch], _batches(space, cfg, root / "w"))]
    assert seen["validation"]["accuracy"] == pytest.approx(acc)  # the same examples the search scores
    out = write_bundle(
        tmp_path / "b", space=space, arch=arch, variables=extract(params, arch, space=space),
        metrics={"accuracy": acc}, measure_latency=False, onnx=False, extra=seen,
    )  # fmt: skip
    card = (out / "README.md").read_text()
    assert f"| accuracy (on 6 validation examples (steps of 0.167)) | {acc:.4g} |" in card
    assert "## Data" in card and "data: 3 classes, 20 examples read from" in card and "notes.txt" in card
    assert (
        "| class | validation examples | accuracy |" in card
        and "| true / predicted | ant | bee | cow |" in card
    )
    assert json.loads((out / "config.json").read_text())["validation"]["examples"] == 6


def _batches(space, cfg, workdir):
    from supernet import data

    ds = data.load(space, cfg["data"], home=workdir)
    return data.val_batches(ds, batch_size=cfg["eval_batch_size"], max_examples=cfg["eval_max_examples"])
