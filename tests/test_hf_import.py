"""``nas hf import``: a Hugging Face folder becomes a supernet run without training, which
``nas hf export`` (and search, eval, train) read at once; the export is the checkpoint again,
``max_position_embeddings`` included.  A failed ``nas train`` leaves no workdir behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bad_input_helpers import run_main

from tests.conftest import ROOT
from tests.gpt2_reference import write_tiny_gpt2
from tests.llama_reference import write_tiny_llama


def _char_tokenizer(folder):
    """A 96-id character tokenizer (the tiny Llama's vocabulary) saved as the folder's tokenizer.json."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    tok = Tokenizer(
        models.WordLevel({"[UNK]": 0, **{chr(i): i - 31 for i in range(32, 127)}}, unk_token="[UNK]")
    )
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.save(str(folder / "tokenizer.json"))


def _tensors(folder):
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_llama_import_then_export_is_the_checkpoint(tmp_path, capsys):
    from nas.cli import main
    from supernet import checkpoint, pretrained

    folder = write_tiny_llama(tmp_path / "llama", tied=False)
    _char_tokenizer(folder)
    wd = tmp_path / "run"
    assert main(["hf", "import", str(folder), "--workdir", str(wd), "--seq-len", "16"]) == 0
    assert "at step 0" in capsys.readouterr().out
    assert {"checkpoints", "config.json", "space.yaml", "tokenizer.json"} <= {p.name for p in wd.iterdir()}
    assert (wd / "tokenizer.json").read_text() == (folder / "tokenizer.json").read_text()
    space, params, cfg = checkpoint.load(wd)
    assert cfg["init_from"] == str(folder.resolve()) and cfg["restored_step"] == 0
    ref = pretrained.load_params(folder, space)
    import jax

    assert jax.tree.structure(params) == jax.tree.structure(ref)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    (tmp_path / "arch.json").write_text(space.largest().to_json())
    capsys.readouterr()
    # eval (as a search's supernet evaluator) reads the validation text with the run's tokenizer
    assert main(["eval", "--workdir", str(wd), "--arch", str(tmp_path / "arch.json")]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["loss"] > 0
    out = tmp_path / "back"
    assert main(["hf", "export", "--workdir", str(wd), "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["max_position_embeddings"] == 64  # the checkpoint's own, not the space's seq_len 16
    orig, back = _tensors(folder), _tensors(out)
    assert sorted(orig) == sorted(back)
    for k in orig:
        np.testing.assert_array_equal(back[k], orig[k], err_msg=k)
    assert main(["hf", "export", "--workdir", str(wd), "--out", str(out), "--max-positions", "32"]) == 0
    assert json.loads((out / "config.json").read_text())["max_position_embeddings"] == 32
    err = run_main(capsys, ["hf", "import", folder, "--workdir", wd], tmp_path)  # an existing run: untouched
    assert "field '--workdir'" in err and "not empty" in err


def test_gpt2_import_needs_a_space_and_a_failure_leaves_nothing(tmp_path, capsys):
    from nas.cli import main

    folder = write_tiny_gpt2(tmp_path / "gpt2")
    wd = tmp_path / "run"
    err = run_main(capsys, ["hf", "import", folder, "--workdir", wd], tmp_path)
    assert "field '--space'" in err and not wd.exists()
    space = ROOT / "experiments/spaces/gpt2-tiny.yaml"
    (folder / "model.safetensors").unlink()
    err = run_main(capsys, ["hf", "import", folder, "--workdir", wd, "--space", space], tmp_path)
    assert "field 'folder'" in err and not wd.exists() and not list(tmp_path.glob(".run*"))
    folder = write_tiny_gpt2(tmp_path / "gpt2")
    assert main(["hf", "import", str(folder), "--workdir", str(wd), "--space", str(space)]) == 0
    out = tmp_path / "back"
    assert main(["hf", "export", "--workdir", str(wd), "--out", str(out)]) == 0
    orig, back = _tensors(folder), _tensors(out)
    assert sorted(orig) == sorted(back)
    for k in orig:
        np.testing.assert_array_equal(back[k], orig[k], err_msg=k)


@pytest.mark.parametrize(
    "overrides",
    [
        ["--init-from", "missing-folder"],  # a pretrained start whose folder is not there
        pytest.param(  # an image training whose data is not there (the same path, after a model init)
            ["--set", "data.train=no-such-images"], marks=pytest.mark.slow
        ),
    ],
    ids=["init-from", "images"],
)
def test_failed_training_leaves_no_workdir(tmp_path, capsys, monkeypatch, overrides):
    monkeypatch.chdir(tmp_path)
    config = ROOT / (
        "experiments/train_from_llama.yaml"
        if overrides[0] == "--init-from"
        else "experiments/train_tiny.yaml"
    )
    err = run_main(capsys, ["train", config, "--workdir", tmp_path / "w", "--quiet", *overrides], tmp_path)
    assert not (tmp_path / "w").exists(), err


def test_hf_export_help_names_both_families():
    from nas.cli import build_parser

    hf = build_parser()._subparsers._group_actions[0].choices["hf"]
    export = hf._subparsers._group_actions[0].choices["export"]
    text = " ".join(export.format_help().split())
    assert "GPT-2 folder to write" not in text and "Llama" in text
