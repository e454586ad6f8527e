"""`nas export / predict / finetune` on a real (tiny) supernet and search run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.cli_export import export_run
from search_spaces import NasError


@pytest.fixture(scope="module")
def exported(tiny_search_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "pareto"
    return export_run(tiny_search_run, select="pareto", out=out, onnx=False)


def test_export_matches_supernet_in_fresh_process(exported, tiny_supernet, cli, tmp_path):
    import jax

    from supernet import checkpoint, model

    space, params, _ = checkpoint.load(tiny_supernet)
    geo = model.geometry(space)
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    assert len(exported) >= 1
    for path in exported:
        cfg = json.loads((path / "config.json").read_text())
        arch = space.parse(cfg["arch"])
        expected = np.asarray(jax.jit(lambda p, x, a=arch: model.apply(p, x, a, geo=geo))(params, x))
        r = cli("predict", path, tmp_path / "x.npy")
        assert r.returncode == 0, r.stderr
        classes = [json.loads(line)["class"] for line in r.stdout.splitlines()]
        assert classes == expected.argmax(-1).tolist()
        assert cfg["provenance"]["supernet_checkpoint"] == str(tiny_supernet.resolve())
        assert "accuracy" in cfg["metrics"]
    code = (
        "import numpy as np, nas, sys; sub = nas.load_subnet(sys.argv[1]);"
        "np.save(sys.argv[2], sub(np.load(sys.argv[3])))"
    )
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "y.npy"
    r = subprocess.run(
        [sys.executable, "-c", code, str(exported[0]), str(out), str(tmp_path / "x.npy")],
        env={"PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((exported[0] / "config.json").read_text())
    arch = space.parse(cfg["arch"])
    expected = np.asarray(model.apply(params, x, arch, geo=geo))
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)


def test_select_best_and_constraint(tiny_search_run, tmp_path):
    best = export_run(tiny_search_run, select="best", out=tmp_path / "best", onnx=False)
    assert best == [tmp_path / "best"]
    cfg = json.loads((best[0] / "config.json").read_text())  # the per-class view of the same examples
    assert cfg["validation"]["accuracy"] == pytest.approx(cfg["metrics"]["accuracy"])
    assert cfg["validation"]["examples"] == 200 and cfg["data_report"]["val"]["examples"] == 1000
    assert "## Validation (inherited weights)" in (best[0] / "README.md").read_text()
    from nas.runner import read_history

    flops = sorted({r["metrics"]["flops"] for r in read_history(tiny_search_run).values()})
    bound = flops[len(flops) // 2]  # a bound that some but not all evaluations meet
    small = export_run(tiny_search_run, select=f"flops<={bound}", out=tmp_path / "small", onnx=False)
    assert json.loads((small[0] / "config.json").read_text())["complexity"]["flops"] <= bound
    with pytest.raises(NasError, match="no evaluation"):
        export_run(tiny_search_run, select="flops<=1", out=tmp_path / "none", onnx=False)


def test_export_bf16_weights_load_predict_and_evaluate_close_to_f32(tiny_search_run, tiny_supernet, tmp_path):
    import jax
    import jax.numpy as jnp

    from nas.cli import build_parser
    from nas.export.finetune import evaluate_standalone
    from nas.export.load import load_subnet
    from supernet import checkpoint, data, model, tasks
    from supernet.extract import extract

    out = tmp_path / "bf16"  # the command line docs/search.md shows, parsed and run in this process
    args = build_parser().parse_args(
        [
            "export",
            str(tiny_search_run),
            "--select",
            "best",
            "--out",
            str(out),
            "--dtype",
            "bf16",
            "--no-onnx",
        ]
    )
    assert args.func(args) == 0
    sub = load_subnet(out)
    assert (
        sub.config["weights_dtype"] == "bfloat16"
        and "| weights stored as | bfloat16 |" in (out / "README.md").read_text()
    )
    leaves = jax.tree.leaves(sub.variables)
    assert leaves and all(np.asarray(a).dtype == jnp.bfloat16 for a in leaves)
    space, params, _ = checkpoint.load(tiny_supernet)
    geo = model.geometry(space)
    x = np.random.default_rng(1).random((16, 28, 28, 1), dtype=np.float32)
    ref = np.asarray(model.apply(params, x, sub.arch, geo=geo))  # the supernet's float32 subnet
    y = sub(x)
    assert y.dtype == np.float32 and not np.array_equal(y, ref)  # the weights were rounded ...
    np.testing.assert_allclose(y, ref, atol=0.02 * np.abs(ref).max())  # ... to ~3 significant digits
    np.save(tmp_path / "x.npy", x)
    lines = tasks.get(space).predict(
        sub, inputs=str(tmp_path / "x.npy"), prompt=None, max_tokens=1, temperature=0.0, seed=0
    )
    assert [json.loads(line)["class"] for line in lines] == y.argmax(-1).tolist()  # what 'nas predict' prints
    ds = data.load(space)
    got = evaluate_standalone(sub.apply, sub.variables, space, max_examples=200, ds=ds)
    want = evaluate_standalone(
        sub.apply, extract(params, sub.arch, space=space), space, max_examples=200, ds=ds
    )
    assert got["loss"] == pytest.approx(want["loss"], rel=0.02)  # float32 weights' validation metrics
    assert abs(got["accuracy"] - want["accuracy"]) <= 0.02


def test_finetune_updates_card(exported, cli):
    path = exported[0]
    r = cli("finetune", path, "--steps", "5", "--no-onnx")
    assert r.returncode == 0, r.stderr
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["finetune"]["steps"] == 5
    assert set(cfg["finetune"]["before"]) == {"accuracy", "loss"}
    assert cfg["finetune"]["after"]["loss"] != cfg["finetune"]["before"]["loss"]
    assert "fine-tuning steps" in (path / "README.md").read_text()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["export", "/nonexistent/run", "--out", "/tmp/x"], "does not exist"),
        (
            ["export", "/nonexistent/run", "--out", "/tmp/x", "--dtype", "fp8"],
            "field '--dtype': expected one of",
        ),
        (["predict", "/nonexistent/bundle", "x.npy"], "not an exported bundle"),
        (["finetune", "/nonexistent/bundle", "--steps", "2"], "not an exported bundle"),
    ],
)
def test_bad_input_is_one_line(cli, args, needle):
    r = cli(*args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_export_refuses_incomplete_run(tmp_path, cli):
    (tmp_path / "run").mkdir()
    r = cli("export", tmp_path / "run", "--out", tmp_path / "o")
    assert r.returncode == 2 and "config.yaml" in r.stderr
