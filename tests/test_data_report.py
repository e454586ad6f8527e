"""What was read from an image folder: per class, the validation split, the files skipped
and why (supernet/tasks/data_report.py); an unreadable image stops by default."""

from __future__ import annotations

import numpy as np
import pytest

from search_spaces import NasError, SearchSpace
from supernet import data

TASK = {"kind": "vit", "image_size": 4, "patch_size": 2, "channels": 3, "num_classes": 2, "head_dim": 4}


def _space() -> SearchSpace:
    return SearchSpace(
        name="img-tiny", max_depth=1, global_dims={"embed_dim": [8]}, layer_dims={"num_heads": [1]}, task=TASK
    )


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, n in (("cat", 6), ("dog", 4)):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)).save(
                tmp_path / "img" / cls / f"{i} a.PNG"
            )
    (tmp_path / "img" / "cat" / "notes.txt").write_text("a stray text file")
    (tmp_path / "img" / "README").write_text("not in a class folder")
    (tmp_path / "img" / "dog" / "empty.png").write_bytes(b"")
    return tmp_path / "img"


def test_an_unreadable_image_stops_with_one_line_naming_it_and_the_option(folder):
    with pytest.raises(NasError) as e:
        data.load(_space(), {"train": str(folder)})
    msg = str(e.value)
    assert f"image '{folder / 'dog' / 'empty.png'}' cannot be read (zero bytes)" in msg
    assert "data.skip_unreadable: true" in msg and "\n" not in msg
    with pytest.raises(NasError, match="field 'data.skip_unreadable': expected true or false, got 'yes'"):
        data.load(_space(), {"train": str(folder), "skip_unreadable": "yes"})


def test_the_report_counts_per_class_and_lists_what_was_skipped(folder, tmp_path):
    ds = data.load(
        _space(), {"train": str(folder), "skip_unreadable": True, "val_fraction": 0.2}, home=tmp_path / "run"
    )
    rep = data.report(ds)
    assert rep["classes"] == ["cat", "dog"]
    assert rep["val"]["examples"] == 2 and rep["train"]["examples"] == 8  # 10 images read, 20 % held out
    both = {c: rep["train"]["per_class"][c] + rep["val"]["per_class"][c] for c in rep["classes"]}
    assert both == {"cat": 6, "dog": 4}
    assert rep["val"]["source"] == "data.val_fraction 0.2"
    skipped = {s["file"]: s["reason"] for s in rep["skipped"]}
    assert skipped == {
        str(folder / "cat" / "notes.txt"): "not an image (.txt)",
        str(folder / "dog" / "empty.png"): "unreadable (zero bytes)",
        str(folder / "README"): "not in a class folder",
    }
    lines = data.report_lines(rep)
    assert lines[0] == f"data: 2 classes, 10 examples read from {folder}"
    assert "validation       2 (data.val_fraction 0.2)" in lines[2]
    assert "skipped 3 files:" in lines[3] and any("notes.txt: not an image (.txt)" in ln for ln in lines)
    saved = data.save_report(ds, tmp_path / "run")
    assert data.read_report(tmp_path / "run") == saved == rep


def test_a_separate_validation_folder_is_named_as_the_source(folder, tmp_path):
    import shutil

    val = tmp_path / "val"
    shutil.copytree(folder, val)
    ds = data.load(_space(), {"train": str(folder), "val": str(val), "skip_unreadable": True})
    rep = data.report(ds)
    assert rep["val"]["source"] == f"data.val {val}" and rep["val"]["examples"] == 10
    assert len(rep["skipped"]) == 6  # three from each folder
