"""Your own images (.npz / .npy / folders) and texts (CSV / JSON lines); what `nas predict` accepts."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from search_spaces import NasError, SearchSpace, load_space
from supernet import data

TASK = {"kind": "vit", "image_size": 16, "patch_size": 8, "channels": 3, "num_classes": 3, "head_dim": 4}
DIMS = {"num_heads": [1], "mlp_dim": [8]}


def _space(task=TASK) -> SearchSpace:
    return SearchSpace(name="img", max_depth=1, global_dims={"embed_dim": [8]}, layer_dims=DIMS, task=task)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    keep = y < 3
    return (x[keep].reshape(-1, 8, 8) * 15).astype(np.uint8), y[keep].astype(np.int64)


def _folder(root, digits, classes=("cat", "dog", "owl"), n=12):
    from PIL import Image

    x, y = digits
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i, img in enumerate(x[y == c][:n]):
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


def test_images_from_npz_npy_and_folder(tmp_path, digits):
    x, y = digits
    gray = {**TASK, "image_size": 8, "patch_size": 4, "channels": 1}
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = data.load(_space(gray), {"train": str(tmp_path / "d.npz"), "val_fraction": 0.25})
    assert ds.data.x_train.shape[1:] == (8, 8, 1) and ds.data.x_train.max() <= 1.0
    assert len(ds.data.x_train) + len(ds.data.x_val) == len(x)
    np.save(tmp_path / "x.npy", x.astype(np.float32) / 255.0)
    np.save(tmp_path / "y.npy", y)
    ds2 = data.load(_space(gray), {"x": str(tmp_path / "x.npy"), "y": str(tmp_path / "y.npy")})
    np.testing.assert_allclose(ds2.data.x_val, ds.data.x_val[: len(ds2.data.x_val)], atol=1e-6)
    home = tmp_path / "run"
    ds3 = data.load(_space(), {"train": str(_folder(tmp_path / "imgs", digits))}, home=home)
    assert ds3.data.x_train.shape[1:] == (16, 16, 3)  # converted to RGB, resized to the task's size
    assert json.loads((home / "classes.json").read_text()) == ["cat", "dog", "owl"]
    xb, yb = data.train_batch(ds3, step=2, batch_size=5, seed=0)
    assert xb.shape == (5, 16, 16, 3) and set(yb.tolist()) <= {0, 1, 2}


def test_bad_image_data_is_one_line(tmp_path, digits):
    x, y = digits
    one = _folder(tmp_path / "one", digits, classes=("cat",))
    bad = _folder(tmp_path / "bad", digits, n=2)
    (bad / "dog" / "broken.png").write_bytes(b"not a png")
    np.savez(tmp_path / "labels.npz", x=np.zeros((len(y), 16, 16, 3), np.uint8), y=y + 5)
    np.savez(tmp_path / "gray.npz", x=x, y=y)
    nan = np.zeros((4, 16, 16, 3), np.float32)
    nan[1, 2, 3, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=nan, y=np.zeros(4, np.int64))
    cases = [
        ({"train": str(one)}, "1 class folder"),
        ({"train": str(bad)}, "broken.png' cannot be read"),
        ({"train": str(tmp_path / "labels.npz")}, "label 7 in"),
        ({"train": str(tmp_path / "gray.npz")}, "has shape (537, 8, 8)"),
        ({"train": str(tmp_path / "nan.npz")}, "non-finite value at index [1, 2, 3, 0]"),
        ({"train": str(tmp_path / "none.npz")}, "does not exist"),
        ({"pictures": "x"}, "field 'data.pictures'"),
    ]
    for cfg, needle in cases:
        with pytest.raises(NasError) as e:
            data.load(_space(), cfg)
        assert needle in str(e.value) and "\n" not in str(e.value), (cfg, str(e.value))


@pytest.fixture(scope="module")
def mnist_bundle(tmp_path_factory):
    from nas.export.bundle import write_bundle
    from supernet import standalone

    space = load_space("experiments/spaces/vit-tiny.yaml")
    arch = space.smallest()
    out = tmp_path_factory.mktemp("b") / "bundle"
    variables = standalone.init(space, arch, jax.random.key(0))
    write_bundle(out, space=space, arch=arch, variables=variables, measure_latency=False, onnx=False)
    return out


def test_predict_checks_user_input(cli, mnist_bundle, tmp_path):
    np.save(tmp_path / "rgb.npy", np.zeros((2, 28, 28, 3), np.float32))
    (tmp_path / "strings.json").write_text('["a", "b"]')
    (tmp_path / "nan.json").write_text("[[[NaN]]]")
    np.save(tmp_path / "ok.npy", np.zeros((2, 28, 28), np.uint8))
    cases = [
        ("rgb.npy", "has 3 channels (shape (2, 28, 28, 3)); the model takes 1"),
        ("strings.json", "must hold numbers"),
        ("nan.json", "non-finite value"),
    ]
    for name, needle in cases:
        r = cli("predict", mnist_bundle, tmp_path / name)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert r.stdout == "" and "NaN" not in r.stdout
    r = cli("predict", mnist_bundle, tmp_path / "ok.npy")
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert r.returncode == 0 and len(rows) == 2 and all(0 <= row["class"] < 10 for row in rows)


def test_text_classification_from_csv_and_jsonl(tmp_path):
    space = SearchSpace(
        name="txt",
        max_depth=1,
        global_dims={"embed_dim": [8]},
        layer_dims=DIMS,
        task={
            "kind": "text_classification",
            "vocab_size": 300,
            "seq_len": 12,
            "num_classes": 2,
            "head_dim": 4,
        },
    )
    rows = [("thou art a villain", "insult"), ("sweet lady, good morrow", "greeting")] * 10
    (tmp_path / "t.csv").write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows))
    (tmp_path / "t.jsonl").write_text(
        "".join(json.dumps({"line": t, "y": int(lab == "insult")}) + "\n" for t, lab in rows)
    )
    ds = data.load(space, {"train": str(tmp_path / "t.csv")}, home=tmp_path / "run")
    assert json.loads((tmp_path / "run/classes.json").read_text()) == ["greeting", "insult"]
    assert (tmp_path / "run/tokenizer.json").is_file() and ds.data.x_train.shape[1] == 12
    rep = data.report(ds)  # what was read, per class, as for image folders
    assert rep["classes"] == ["greeting", "insult"] and rep["val"]["source"] == "data.val_fraction 0.1"
    assert rep["train"]["examples"] + rep["val"]["examples"] == 20 and rep["val"]["examples"] == 2
    ds2 = data.load(space, {"train": str(tmp_path / "t.jsonl"), "text_field": "line", "label_field": "y"})
    assert set(ds2.data.y_train.tolist()) == {0, 1}
    (tmp_path / "bad.jsonl").write_text('{"line": "x", "y": 0}\n{"line": "y"}\n')
    with pytest.raises(NasError, match=r"bad.jsonl: row 2 needs a text 'line' and a label 'y'"):
        data.load(space, {"train": str(tmp_path / "bad.jsonl"), "text_field": "line", "label_field": "y"})
    (tmp_path / "comma.csv").write_text("text,label\nsweet lady, good morrow,greeting\n")
    with pytest.raises(NasError, match=r"comma.csv: row 1 has more fields than the header"):
        data.load(space, {"train": str(tmp_path / "comma.csv")})
    (tmp_path / "range.jsonl").write_text('{"text": "x", "label": 4}\n' * 5)
    with pytest.raises(NasError, match=r"label 4 is outside \[0, 2\)"):
        data.load(space, {"train": str(tmp_path / "range.jsonl")})


def test_padding_does_not_change_a_text_prediction():
    """Key padding mask: a text right-padded with ``pad_id`` is classified as the same text unpadded."""
    from search_spaces.geometry import geometry_of_task
    from supernet import extract, model, standalone

    task = {"kind": "text_classification", "vocab_size": 50, "seq_len": 12, "num_classes": 3, "head_dim": 4}
    layer = {"num_heads": [1, 2], "mlp_dim": [8, 16], "attn_type": ["linear", "softmax"]}
    space = SearchSpace(
        name="txt",
        max_depth=2,
        global_dims={"embed_dim": [8, 12], "depth": [1, 2]},
        layer_dims=layer,
        task=task,
    )
    arch = space.parse(
        {
            "embed_dim": 12,
            "depth": 2,
            "num_heads": [2, 1],
            "mlp_dim": [16, 8],
            "attn_type": ["softmax", "linear"],
        }
    )
    params = model.init(space, jax.random.key(0))
    text = np.random.default_rng(0).integers(1, 50, (1, 5)).astype(np.int32)  # 5 tokens, no id 0
    rows = np.zeros((3, 12), np.int32)  # the text padded; the text then a real token; all padding
    rows[:2, :5] = text
    rows[1, 5:] = 7
    geo = model.geometry(space)
    net, sub = standalone.build(space, arch), extract(params, arch, space=space)
    short, full = (np.asarray(jax.jit(net.apply)(sub, x)) for x in (text, rows))
    np.testing.assert_allclose(full[0], short[0], atol=1e-5, rtol=0)
    assert np.abs(full[1] - short[0]).max() > 1e-3  # real tokens there do change the prediction
    assert np.isfinite(full[2]).all()  # all padding: finite, not NaN
    np.testing.assert_allclose(np.asarray(model.apply(params, rows, arch, geo=geo)), full, atol=1e-5, rtol=0)
    assert geometry_of_task({**task, "pad_id": 49}).pad_id == 49
    with pytest.raises(
        NasError, match=r"field 'task.pad_id' must be a token id in \[0, vocab_size\), got 50"
    ):
        geometry_of_task({**task, "pad_id": 50})
