"""README 'Llama-family models': the command sequence runs as written (test-sized), in-process,
on a Llama checkpoint the test writes; `nas spaces show smollm-135m` prints SmolLM-135M's size."""

from __future__ import annotations

import json
import re
import shlex

import guides
import numpy as np
import pytest

from tests.conftest import ROOT

SECTION = "Llama-family models (SmolLM, TinyLlama, ...)"


def _commands() -> list[list[str]]:
    part = guides.section(SECTION)
    block = re.findall(r"```bash\n(.*?)```", part, flags=re.S)[0]
    return [shlex.split(ln.split("  #")[0]) for ln in block.splitlines() if ln.strip()]


def test_smollm_space_shows_params_and_training_memory(capsys):
    from nas.cli import main

    assert main(["spaces", "show", "smollm-135m", "--batch-size", "8", "--seq-len", "512"]) == 0
    out = capsys.readouterr().out
    largest = out.split("largest:", 1)[1]
    params = float(re.search(r"params ([\d.]+)M", largest).group(1))
    assert abs(params - 134.5) / 134.5 < 0.01
    assert "training memory ~" in largest and "KV cache 90.0 MiB" in largest


@pytest.mark.slow
def test_readme_llama_commands_run(ray_local, tmp_path, monkeypatch, capsys):
    from nas.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NAS_PREDICTORS", str(tmp_path / "predictors"))
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    small = {
        "train": ["--set", "steps=4", "--set", "batch_size=4", "--set", "checkpoint_every=2"]
        + ["--set", "eval_batch_size=8", "--set", "eval_max_examples=16", "--quiet"],
        "measure": ["--n", "6", "--repeats", "2", "--warmup", "1", "--references", "2"],
        "search": ["--set", "budget=4", "--set", "strategy.population=2", "--no-progress"]
        + ["--set", 'constraints=["latency_ms[my-laptop] <= 1e4", "kv_cache_mb <= 0.125"]'],
    }
    outs = {}
    for cmd in _commands():
        if cmd[0] == "python":
            from experiments import llama_demo

            llama_demo.main([*cmd[2:], "--steps", "3", "--batch", "4"])
            continue
        assert cmd[0] == "nas"
        key = cmd[2] if cmd[1] == "latency" else cmd[1]
        capsys.readouterr()
        assert main([*cmd[1:], *small.get(key, [])]) == 0, cmd
        outs[" ".join(cmd[1:3])] = capsys.readouterr().out
    tok = (
        tmp_path / "runs/llama-demo/tokenizer.json"
    ).read_text()  # the checkpoint's tokenizer trains the supernet
    assert (tmp_path / "runs/from-llama/tokenizer.json").read_text() == tok
    assert (tmp_path / "runs/llama-imported/tokenizer.json").read_text() == tok  # imported, no training
    from search_spaces import load_space, params

    derived, demo = load_space(tmp_path / "runs/llama-demo-space.yaml"), load_space("llama-shakespeare")
    assert params(derived, derived.largest()) == params(demo, demo.largest())
    # every searched architecture met the KV-cache bound; the chosen one is exported as a Llama folder
    hist = [json.loads(x) for x in (tmp_path / "runs/llama-search/history.jsonl").read_text().splitlines()]
    assert hist and all(h["metrics"]["kv_cache_mb"] <= 0.125 for h in hist if "metrics" in h)
    cfg = json.loads((tmp_path / "runs/llama-best-hf/config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["num_key_value_heads"] in (1, 2)
    line = json.loads(outs["predict runs/llama-best"].strip().splitlines()[-1])
    assert line["prompt"] == "ROMEO:" and line["tokens"] == 20

    # the exported folder, loaded back, computes what the bundle computes
    from nas.export.load import load_subnet
    from supernet import model, pretrained
    from supernet.pretrained import hf_llama, llama_layout

    folder = tmp_path / "runs/llama-best-hf"
    sp = llama_layout.space_for(hf_llama.read_config(folder), name="back", seq_len=128)
    params = pretrained.load_params(folder, sp)
    ids = np.random.default_rng(0).integers(0, 2048, (1, 128))
    back = np.asarray(model.apply(params, ids, sp.largest(), geo=model.geometry(sp)))
    np.testing.assert_allclose(back, np.asarray(load_subnet(tmp_path / "runs/llama-best")(ids)), atol=1e-4)
