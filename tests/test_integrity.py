"""Content checksums: a damaged bundle or predictor file is named, never silently used.

A bundle's ``config.json`` lists the sha256 and size of every file under ``weights/``
(and of its compiled models); a predictor's JSON lists the sha256 of every npz array.
``nas predict``, ``nas finetune``, ``nas export --verify`` and ``nas latency verify``
must name the damaged file in one line, exit 2 and change nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import numpy as np
import pytest
from bad_input_helpers import assert_clean_error, snapshot

from nas.cli import main


def _weight_files(b):
    return sorted((p for p in (b / "weights").rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)


def _damage(b, how) -> str:
    """Damages the bundle ``b``; returns the relative path the error must name."""
    big = _weight_files(b)[0]
    rel = big.relative_to(b).as_posix()
    if how == "truncated":  # the case: 30 % of the largest file left
        big.write_bytes(big.read_bytes()[: int(big.stat().st_size * 0.3)])
    elif how == "altered":  # same size, one byte flipped
        data = bytearray(big.read_bytes())
        data[len(data) // 2] ^= 0x01
        big.write_bytes(bytes(data))
    elif how == "missing":
        big.unlink()
    else:  # a stray file Orbax might read
        (b / "weights" / "extra.bin").write_bytes(b"\0" * 8)
        rel = "weights/extra.bin"
    return rel


def _error(capsys, argv, root) -> str:
    before = snapshot(root)
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert_clean_error(rc, err, before, root)
    return err.strip()


@pytest.mark.parametrize("how", ["truncated", "altered", "missing", "stray"])
def test_a_damaged_weights_file_is_named_by_predict_finetune_and_verify(tmp_path, capsys, tiny_bundle, how):
    b = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, b)
    rel = _damage(b, how)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 28, 28), np.float32))
    word = {
        "truncated": "truncated",
        "altered": "altered",
        "missing": "missing",
        "stray": "not in the checksum",
    }
    for argv in (["predict", b, x], ["finetune", b, "--steps", "1", "--no-onnx"], ["export", b, "--verify"]):
        err = _error(capsys, argv, tmp_path)
        assert f"file '{rel}'" in err and word[how] in err, (argv[0], err)


def test_verify_passes_an_intact_bundle_and_a_folder_of_bundles(tmp_path, capsys, tiny_bundle):
    coll = tmp_path / "front"
    for i in range(2):
        shutil.copytree(tiny_bundle, coll / f"subnet-{i}")
    capsys.readouterr()
    assert main(["export", str(tiny_bundle), "--verify"]) == 0
    assert main(["export", str(coll), "--verify"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    n = len(json.loads((tiny_bundle / "config.json").read_text())["checksums"])
    assert len(out) == 3 and all(f"ok, {n} files match" in line for line in out), out


def test_a_bundle_written_before_the_manifest_loads_but_cannot_be_verified(tmp_path, capsys, tiny_bundle):
    """The documented rule: format 1 (no ``checksums``) loads unchecked; --verify says so, exit 2."""
    from nas.export.load import load_subnet

    b = tmp_path / "old"
    shutil.copytree(tiny_bundle, b)
    cfg = json.loads((b / "config.json").read_text())
    cfg["format_version"] = 1
    cfg.pop("checksums")
    (b / "config.json").write_text(json.dumps(cfg))
    assert load_subnet(b).arch.to_dict() == cfg["arch"]
    assert "has no checksum manifest" in _error(capsys, ["export", b, "--verify"], tmp_path)
    cfg["format_version"] = 2  # a current bundle without its manifest is damaged, not old
    (b / "config.json").write_text(json.dumps(cfg))
    assert "'checksums'" in _error(capsys, ["export", b, "--verify"], tmp_path)


# ---- predictors ---------------------------------------------------------------------------------
@pytest.fixture()
def v3_root(tmp_path, monkeypatch):
    """The shipped cpu-host predictor (format 2, no array manifest) saved again as format 3."""
    from predictors import registry

    root = tmp_path / "reg"
    part = registry.load_part(registry.SHIPPED / "cpu-host" / "vit-mnist.json")
    assert part.meta["format_version"] == 2 and "arrays" not in part.meta
    registry.save(root, "dev", part)
    monkeypatch.setenv("NAS_PREDICTORS", str(root))
    return root / "dev"


def _rewrite_npz(d, edit) -> None:
    """Edits the npz arrays and, like a careless tool, updates ``npz_sha256`` to match."""
    with np.load(d / "vit-mnist.npz") as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (d / "vit-mnist.npz").write_bytes(buf.getvalue())
    meta = json.loads((d / "vit-mnist.json").read_text())
    meta["npz_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (d / "vit-mnist.json").write_text(json.dumps(meta))


def _drop_first(arrays):
    arrays.pop(sorted(arrays)[0])


def _scale_first(arrays):
    k = sorted(arrays)[0]
    arrays[k] = arrays[k] * 1.01


def _extra(arrays):
    arrays["zz"] = np.zeros(3)


@pytest.mark.parametrize(
    "edit, needle", [(_drop_first, "is missing"), (_scale_first, "is damaged"), (_extra, "'zz' is not in")]
)
def test_a_damaged_predictor_array_is_named_even_with_its_file_checksum_updated(
    tmp_path, capsys, v3_root, vit_space, edit, needle
):
    from predictors import registry

    meta = json.loads((v3_root / "vit-mnist.json").read_text())
    assert meta["format_version"] == registry.FORMAT_VERSION == 3 and meta["arrays"]
    capsys.readouterr()
    assert main(["latency", "verify", "dev"]) == 0
    assert "ok, format 3" in capsys.readouterr().out
    _rewrite_npz(v3_root, edit)
    name = "zz" if edit is _extra else sorted(meta["arrays"])[0]
    err = _error(capsys, ["latency", "verify", "dev"], tmp_path)
    assert f"array '{name}'" in err and needle in err, err
    arch = tmp_path / "a.json"
    arch.write_text(vit_space.smallest().to_json())
    assert f"array '{name}'" in _error(
        capsys, ["latency", "query", "--device", "dev", "--arch", arch], tmp_path
    )


def test_the_shipped_predictors_verify_under_the_legacy_rule(capsys):
    """Format 2 files (shipped before the array manifest) load on their whole-file sha256."""
    capsys.readouterr()
    assert main(["latency", "verify", "cpu-host"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok, format 2") == 2 and "no array manifest" in out, out
