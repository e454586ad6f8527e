"""Importing a GPT-2 checkpoint into the supernet and exporting subnets back (tiny random checkpoints)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.gpt2_reference import gpt2_forward, write_tiny_gpt2

os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture(scope="module")
def space():
    from search_spaces import load_space

    return load_space(ROOT / "experiments/spaces/gpt2-tiny.yaml")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "tiny")


@pytest.fixture(scope="module")
def ids():
    return np.random.default_rng(1).integers(0, 128, (2, 16))


def _logits(params, space, arch, ids):
    from supernet import model

    return np.asarray(model.apply(params, ids, arch, geo=model.geometry(space)))


@pytest.mark.parametrize("prefix,buffers", [("transformer.", False), ("", True)])
def test_largest_subnet_computes_the_checkpoint(tmp_path, space, ids, prefix, buffers):
    from supernet import pretrained

    folder = write_tiny_gpt2(tmp_path / "ck", prefix=prefix, with_mask_buffers=buffers)
    ref = gpt2_forward(folder, ids)
    assert np.abs(ref).max() > 1.0  # logits large enough for the comparison to mean something
    out = _logits(pretrained.load_params(folder, space), space, space.largest(), ids)
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)


def test_matches_transformers_gpt2_when_installed(ckpt, space, ids):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from supernet import pretrained

    hf = transformers.GPT2LMHeadModel.from_pretrained(str(ckpt)).eval()
    with torch.no_grad():
        ref = hf(torch.as_tensor(ids)).logits.numpy()
    out = _logits(pretrained.load_params(ckpt, space), space, space.largest(), ids)
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)


def test_round_trip_import_export_import_is_exact(tmp_path, ckpt, space, ids):
    from safetensors.numpy import load_file

    from supernet import pretrained
    from supernet.extract import extract

    params = pretrained.load_params(ckpt, space)
    largest = space.largest()
    tok = tmp_path / "tokenizer.json"
    tok.write_text("{}")
    out = pretrained.write_gpt2(tmp_path / "hf", space, largest, extract(params, largest), tokenizer=tok)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["n_embd"], cfg["n_layer"], cfg["n_head"], cfg["n_inner"]) == (32, 3, 4, 128)
    assert cfg["layer_norm_epsilon"] == 1e-5 and cfg["tie_word_embeddings"] is True
    assert all(k.startswith("transformer.") for k in load_file(str(out / "model.safetensors")))
    again = pretrained.load_params(out, space)
    np.testing.assert_array_equal(_logits(again, space, largest, ids), _logits(params, space, largest, ids))


def test_uniform_subnet_exports_and_runs_as_gpt2(tmp_path, ckpt, space, ids):
    """A smaller uniform subnet written as GPT-2 computes what the supernet computes for it."""
    from supernet import pretrained
    from supernet.extract import extract

    params = pretrained.load_params(ckpt, space, order="importance")
    arch = space.parse(
        {"embed_dim": 16, "depth": 2, "num_heads": [2, 2], "mlp_dim": [64, 64], "attn_type": ["softmax"] * 2}
    )
    folder = pretrained.write_gpt2(tmp_path / "small", space, arch, extract(params, arch))
    np.testing.assert_allclose(gpt2_forward(folder, ids), _logits(params, space, arch, ids), atol=1e-4)


def test_heterogeneous_subnet_says_why_not(tmp_path, ckpt, space):
    from search_spaces.errors import NasError
    from supernet import pretrained
    from supernet.extract import extract

    params = pretrained.load_params(ckpt, space)
    cases = {
        "num_heads differs between layers [2, 4]": ([2, 4], [64, 64], ["softmax"] * 2, 16),
        "mlp_dim differs between layers [64, 128]": ([2, 2], [64, 128], ["softmax"] * 2, 16),
        "GPT-2 has softmax attention in every layer": ([2, 2], [64, 64], ["softmax", "linear"], 16),
        "2 x 8 = 16 differs from embed_dim 32": ([2, 2], [64, 64], ["softmax"] * 2, 32),
    }
    for msg, (h, m, a, e) in cases.items():
        arch = space.parse({"embed_dim": e, "depth": 2, "num_heads": h, "mlp_dim": m, "attn_type": a})
        assert msg in pretrained.why_not_gpt2(space, arch)
        with pytest.raises(NasError, match="cannot write a GPT-2 folder") as e:
            pretrained.write_gpt2(tmp_path / "x", space, arch, extract(params, arch))
        assert "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()


def test_importance_order_keeps_the_largest_and_sorts_units(ckpt, space, ids):
    from supernet import pretrained
    from supernet.pretrained import importance

    plain = pretrained.load_params(ckpt, space)
    ordered = pretrained.load_params(ckpt, space, order="importance")
    largest = space.largest()
    np.testing.assert_allclose(
        _logits(ordered, space, largest, ids), _logits(plain, space, largest, ids), atol=2e-5
    )
    for scores in (importance.head_scores(ordered["layers"]), importance.neuron_scores(ordered["layers"])):
        assert np.all(np.diff(scores, axis=1) <= 0)  # most important first, in every layer
    assert not np.array_equal(ordered["layers"]["fc1"]["kernel"], plain["layers"]["fc1"]["kernel"])


def _mutate(folder, fn):
    from safetensors.numpy import load_file, save_file

    t = load_file(str(folder / "model.safetensors"))
    fn(t)
    save_file(t, str(folder / "model.safetensors"))


def test_bad_checkpoints_are_one_line_naming_tensor_and_shapes(tmp_path, space):
    from search_spaces.errors import NasError
    from supernet import pretrained

    def bad(name, fn=None, **kw):
        folder = write_tiny_gpt2(tmp_path / name, **kw)
        if fn is not None:
            _mutate(folder, fn)
        with pytest.raises(NasError) as e:
            pretrained.load_params(folder, space)
        assert "\n" not in str(e.value)
        return str(e.value)

    msg = bad("missing", lambda t: t.pop("transformer.h.1.mlp.c_fc.bias"))
    assert "'transformer.h.1.mlp.c_fc.bias' is missing (expected shape (128,))" in msg
    msg = bad("extra", lambda t: t.update({"transformer.h.0.attn.rotary": np.zeros((3, 4), np.float32)}))
    assert "unexpected tensor 'transformer.h.0.attn.rotary' (3, 4)" in msg
    msg = bad("misfit", lambda t: t.update({"transformer.wpe.weight": np.zeros((64, 31), np.float32)}))
    assert "'transformer.wpe.weight' has shape (64, 31); config.json implies (64, 32)" in msg
    assert "n_embd is 48 but space 'gpt2-tiny' has largest embed_dim 32" in bad(
        "wide", embed=48, inner=128, heads=6
    )
    assert "n_inner is 96 but space 'gpt2-tiny' has largest mlp_dim 128" in bad("mlp", inner=96)
    assert "layer_norm_epsilon is 1e-06 but space 'gpt2-tiny' has task.ln_eps 1e-05" in bad("eps", eps=1e-6)
    assert "n_positions is 8 but space 'gpt2-tiny' has task.seq_len 64" in bad("ctx", positions=8)
    (tmp_path / "pickle").mkdir()
    (tmp_path / "pickle" / "config.json").write_text("{}")
    (tmp_path / "pickle" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(NasError, match="a pickle, never loaded"):
        pretrained.load_params(tmp_path / "pickle", space)


RATIO_SPACE = """name: gpt2-tiny-ratio
max_depth: 3
global:
  embed_dim: [16, 32]
  depth: [1, 2, 3]
layer:
  num_heads: [2, 4]
  mlp_ratio: [2, 4]
  attn_type: [linear, softmax]
task: {kind: charlm, dataset: shakespeare, vocab_size: 128, seq_len: 64, head_dim: 8, ln_eps: 1.0e-5, tie_embeddings: true}
"""


def test_mlp_ratio_space_exports_uniform_and_says_why_not_for_heterogeneous(tmp_path, ckpt, ids):
    """A space searching ``mlp_ratio`` (as built-in gpt2-small does) exports like one searching ``mlp_dim``."""
    from search_spaces import load_space
    from search_spaces.errors import NasError
    from supernet import pretrained
    from supernet.extract import extract

    (tmp_path / "ratio.yaml").write_text(RATIO_SPACE)
    space = load_space(tmp_path / "ratio.yaml")
    params = pretrained.load_params(ckpt, space)  # largest: 32 wide, MLP 4 x 32 = 128, as the checkpoint

    def arch(ratios):
        return space.parse(
            {
                "embed_dim": 16,
                "depth": 2,
                "num_heads": [2, 2],
                "mlp_ratio": ratios,
                "attn_type": ["softmax"] * 2,
            }
        )

    uniform, mixed = arch([4, 4]), arch([2, 4])
    assert pretrained.why_not_gpt2(space, uniform) is None
    assert pretrained.why_not_gpt2(space, mixed) == (
        "mlp_ratio differs between layers [2, 4]; GPT-2 has one MLP width"
    )
    with pytest.raises(NasError, match="mlp_ratio differs"):
        pretrained.write_gpt2(tmp_path / "mixed", space, mixed, extract(params, mixed))
    folder = pretrained.write_gpt2(tmp_path / "hf", space, uniform, extract(params, uniform))
    assert json.loads((folder / "config.json").read_text())["n_inner"] == 64  # 4 x 16
    np.testing.assert_allclose(gpt2_forward(folder, ids), _logits(params, space, uniform, ids), atol=1e-4)
