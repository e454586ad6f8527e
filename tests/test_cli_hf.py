"""README's "Start from a pretrained GPT-2" commands run as written (tiny step counts), and ``nas hf`` errors."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import guides
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.gpt2_reference import gpt2_forward

TINY_TRAIN = ["steps=2", "batch_size=8", "warmup_steps=1", "checkpoint_every=2", "eval_max_examples=64"]


def _readme_commands() -> list[list[str]]:
    part = guides.section("Start from a pretrained GPT-2")
    block = re.findall(r"```bash\n(.*?)```", part, flags=re.S)[0]
    return [shlex.split(line.split("  #")[0]) for line in block.strip().splitlines()]


@pytest.mark.slow
def test_readme_gpt2_commands_run(cli, tmp_path):
    arch = {
        "embed_dim": 16,
        "depth": 2,
        "num_heads": [2, 2],
        "mlp_dim": [64, 64],
        "attn_type": ["softmax"] * 2,
    }
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    outputs = {}
    for cmd in _readme_commands():
        cmd = [str(tmp_path / c[5:]) if c.startswith("runs/") else c for c in cmd]
        cmd = [str(tmp_path / "arch.json") if c == "arch.json" else c for c in cmd]
        if cmd[0] == "python":
            env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
            r = subprocess.run(
                [sys.executable, *cmd[1:], "--pretrain-steps", "3"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
        else:
            assert cmd[0] == "nas"
            extra = [a for s in TINY_TRAIN for a in ("--set", s)] if cmd[1] == "train" else []
            r = cli(*cmd[1:], *extra, "--quiet") if cmd[1] == "train" else cli(*cmd[1:], *extra)
        assert r.returncode == 0, (cmd, r.stderr[-2000:])
        outputs[" ".join(cmd[:3])] = r.stdout
    check = json.loads(outputs["nas hf check"])
    assert (check["embed_dim"], check["depth"], check["num_heads"], check["mlp_dim"]) == (32, 3, 4, 128)
    assert "perplexity" in json.loads(outputs["nas eval --workdir"].splitlines()[0])
    folder = tmp_path / "gpt2-subnet"
    cfg = json.loads((folder / "config.json").read_text())
    assert (cfg["n_embd"], cfg["n_layer"], cfg["n_head"], cfg["n_inner"]) == (16, 2, 2, 64)

    # the exported folder computes what the trained supernet computes for that subnet
    from supernet import checkpoint, model

    space, params, _ = checkpoint.load(tmp_path / "from-gpt2")
    ids = np.random.default_rng(0).integers(0, 128, (2, 64))
    ours = np.asarray(model.apply(params, ids, space.parse(arch), geo=model.geometry(space)))
    np.testing.assert_allclose(gpt2_forward(folder, ids), ours, atol=1e-4)

    # a subnet GPT-2 cannot express: one line, exit 2, nothing written
    arch["num_heads"] = [2, 4]
    (tmp_path / "het.json").write_text(json.dumps(arch))
    r = cli(
        "hf",
        "export",
        "--workdir",
        tmp_path / "from-gpt2",
        "--arch",
        tmp_path / "het.json",
        "--out",
        tmp_path / "x",
    )
    assert r.returncode == 2 and not (tmp_path / "x").exists()
    assert r.stderr.strip() == (
        "error: cannot write a GPT-2 folder: num_heads differs between layers [2, 4]; GPT-2 has one head count"
    )
    r = cli("hf", "check", tmp_path / "nothing", "--space", "experiments/spaces/gpt2-tiny.yaml")
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("mlp", ["mlp_dim", "mlp_ratio"])
def test_hf_export_from_a_bundle(cli, tmp_path, mlp):
    """``nas hf export --bundle`` end to end, for a space searching ``mlp_dim`` and one searching ``mlp_ratio``."""
    from nas.export.bundle import write_bundle
    from search_spaces import load_space
    from supernet import model, pretrained
    from supernet.extract import extract
    from tests.gpt2_reference import write_tiny_gpt2

    text = (ROOT / "experiments/spaces/gpt2-tiny.yaml").read_text()
    if mlp == "mlp_ratio":  # the built-in gpt2-small searches mlp_ratio; here 2 or 4 x embed_dim
        text = text.replace("mlp_dim: [64, 128]", "mlp_ratio: [2, 4]")
    (tmp_path / "space.yaml").write_text(text)
    space = load_space(tmp_path / "space.yaml")
    params = pretrained.load_params(write_tiny_gpt2(tmp_path / "ck"), space)
    widths = {"mlp_dim": [64, 64], "mlp_ratio": [4, 4]}[mlp]
    arch = space.parse(
        {"embed_dim": 16, "depth": 2, "num_heads": [2, 2], mlp: widths, "attn_type": ["softmax"] * 2}
    )
    bundle = write_bundle(
        tmp_path / "b",
        space=space,
        arch=arch,
        variables=extract(params, arch),
        measure_latency=False,
        onnx=False,
    )
    r = cli("hf", "export", "--bundle", bundle, "--out", tmp_path / "hf")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "n_inner 64" in r.stdout
    ids = np.random.default_rng(0).integers(0, 128, (2, 64))
    ours = np.asarray(model.apply(params, ids, arch, geo=model.geometry(space)))
    np.testing.assert_allclose(gpt2_forward(tmp_path / "hf", ids), ours, atol=1e-4)
