"""Bundles: written atomically, loaded in a fresh process without the supernet."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import ROOT

from nas.export import write_bundle
from nas.export.bundle import example_batch
from search_spaces import NasError
from supernet import standalone


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, vit_space):
    arch = vit_space.sample(5)
    variables = standalone.init(vit_space, arch, jax.random.key(3))
    out = tmp_path_factory.mktemp("export") / "bundle"
    write_bundle(
        out,
        space=vit_space,
        arch=arch,
        variables=variables,
        provenance={"seed": 3},
        metrics={"accuracy": 0.5},
        predicted_latency_ms={"cpu-host": 0.2},
        measure_latency=True,
    )
    x = example_batch(vit_space, 4, seed=1)
    expected = np.asarray(standalone.build(vit_space, arch).apply(variables, x))
    return out, x, expected


def test_bundle_files_and_card(bundle):
    out, _, _ = bundle
    for name in ("config.json", "weights", "model.stablehlo", "model.onnx", "README.md"):
        assert (out / name).exists(), name
    config = json.loads((out / "config.json").read_text())
    assert config["complexity"]["params"] > 0 and config["onnx_max_abs_error"] <= 1e-4
    assert config["measured_latency"]["median_ms"] > 0
    card = (out / "README.md").read_text()
    assert "predicted latency on `cpu-host`" in card and "parameters" in card


def test_fresh_process_matches(bundle, tmp_path):
    out, x, expected = bundle
    np.save(tmp_path / "x.npy", x)
    code = f"""
import numpy as np, onnxruntime as ort, nas
x = np.load({str(tmp_path / "x.npy")!r})
sub = nas.load_subnet({str(out)!r})
np.save({str(tmp_path / "jax.npy")!r}, sub(x))
np.save({str(tmp_path / "hlo.npy")!r}, np.asarray(sub.stablehlo().call(x)))
sess = ort.InferenceSession({str(out / "model.onnx")!r}, providers=["CPUExecutionProvider"])
np.save({str(tmp_path / "onnx.npy")!r}, sess.run(None, {{sess.get_inputs()[0].name: x}})[0])
import sys; assert "supernet.elastic" not in sys.modules
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "jax.npy"), expected, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "hlo.npy"), expected, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "onnx.npy"), expected, atol=1e-4)


def test_never_overwrites_a_non_bundle(tmp_path, vit_space):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "data.txt").write_text("keep me")
    arch = vit_space.smallest()
    with pytest.raises(NasError, match="not a bundle"):
        write_bundle(
            target,
            space=vit_space,
            arch=arch,
            variables=standalone.init(vit_space, arch, jax.random.key(0)),
            onnx=False,
        )
    assert (target / "data.txt").read_text() == "keep me"


def test_failed_rewrite_keeps_old_bundle(bundle, vit_space):
    out, _, _ = bundle
    before = (out / "config.json").read_text()
    arch = vit_space.smallest()
    wrong = standalone.init(vit_space, vit_space.largest(), jax.random.key(0))  # weights of another arch
    with pytest.raises(NasError, match="weights do not match"):
        write_bundle(out, space=vit_space, arch=arch, variables=wrong, onnx=False, measure_latency=False)
    assert (out / "config.json").read_text() == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".bundle.tmp")]
