"""Hugging Face Llama folders in and out: a tiny random checkpoint written here (GQA, RoPE, tied and
untied, one file or shards) against a NumPy Llama; round trip; a uniform subnet exported and reloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bad_input_helpers import run_main

from tests.llama_reference import llama_forward, write_tiny_llama

LINEAR = {"rope_type": "linear", "factor": 2.0}
VARIANTS = {"tied": dict(tied=True), "untied-sharded-linear": dict(tied=False, sharded=True, scaling=LINEAR)}


@pytest.fixture(scope="module", params=list(VARIANTS))
def ckpt(request, tmp_path_factory):
    from supernet.pretrained import hf_llama, llama_layout

    folder = write_tiny_llama(tmp_path_factory.mktemp("llama") / request.param, **VARIANTS[request.param])
    space = llama_layout.space_for(hf_llama.read_config(folder), name="tiny-llama", seq_len=16)
    return folder, space


@pytest.fixture(scope="module")
def ids():
    return np.random.default_rng(1).integers(0, 96, (2, 16))


def _logits(params, space, arch, ids):
    from supernet import model

    return np.asarray(model.apply(params, ids, arch, geo=model.geometry(space)))


def test_largest_subnet_computes_the_checkpoint(ckpt, ids):
    from supernet import pretrained

    folder, space = ckpt
    ref = llama_forward(folder, ids)
    assert np.abs(ref).max() > 1.0  # logits large enough for the comparison to mean something
    params = pretrained.load_params(folder, space)
    np.testing.assert_allclose(_logits(params, space, space.largest(), ids), ref, atol=1e-4, rtol=0)
    # importance order: KV groups, heads and channels permuted, the checkpoint's function kept
    ordered = pretrained.load_params(folder, space, order="importance")
    np.testing.assert_allclose(_logits(ordered, space, space.largest(), ids), ref, atol=1e-4, rtol=0)
    from supernet.pretrained import llama_layout

    kv, q, m = llama_layout.orders(ordered["layers"])
    assert (kv == np.arange(kv.shape[1])).all() and (m == np.arange(m.shape[1])).all()
    assert not np.array_equal(ordered["layers"]["up"]["kernel"], params["layers"]["up"]["kernel"])


def test_matches_transformers_llama_when_installed(ckpt, ids):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from supernet import pretrained

    folder, space = ckpt
    hf = transformers.LlamaForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32).eval()
    with torch.no_grad():
        ref = hf(torch.as_tensor(ids)).logits.numpy()
    out = _logits(pretrained.load_params(folder, space), space, space.largest(), ids)
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)


def test_round_trip_and_a_uniform_subnet_generates_the_same_tokens(tmp_path, ckpt, ids):
    import jax

    from search_spaces import ArchConfig
    from supernet import pretrained
    from supernet.extract import extract
    from supernet.pretrained import hf_llama, llama_layout

    folder, space = ckpt
    params = pretrained.load_params(folder, space)
    big = space.largest()
    out = pretrained.write_hf(tmp_path / "big", space, big, extract(params, big, space=space))
    again = pretrained.load_params(out, space)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)  # bit-identical
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_key_value_heads"] == 2 and cfg["tie_word_embeddings"] == VARIANTS[folder.name]["tied"]

    if folder.name != "tied":
        return
    small = ArchConfig.make(depth=1, embed_dim=24, num_heads=[2], num_kv_heads=[1], mlp_dim=[24])
    space.validate(small)
    sub_dir = pretrained.write_hf(tmp_path / "small", space, small, extract(params, small, space=space))
    reloaded_space = llama_layout.space_for(hf_llama.read_config(sub_dir), name="small", seq_len=16)
    reloaded = pretrained.load_params(sub_dir, reloaded_space)

    def greedy(p, sp, arch, prompt, n=4):
        seq = list(prompt)
        for _ in range(n):
            x = np.zeros((1, 16), np.int32)
            x[0, : len(seq)] = seq
            seq.append(int(_logits(p, sp, arch, x)[0, len(seq) - 1].argmax()))
        return seq[len(prompt) :]

    inside = greedy(params, space, small, ids[0, :5])
    assert inside == greedy(reloaded, reloaded_space, reloaded_space.largest(), ids[0, :5])
    np.testing.assert_allclose(
        _logits(reloaded, reloaded_space, reloaded_space.largest(), ids),
        _logits(params, space, small, ids),
        atol=1e-5,
    )

    odd = ArchConfig.make(depth=2, embed_dim=32, num_heads=[4, 2], num_kv_heads=[2, 2], mlp_dim=[48, 48])
    with pytest.raises(Exception, match=r"num_heads differs between layers \[4, 2\]; Llama's config"):
        pretrained.write_hf(tmp_path / "odd", space, odd, extract(params, odd, space=space))
    assert not (tmp_path / "odd").exists()


def test_from_hf_writes_the_space_and_bad_folders_are_one_line(tmp_path, ckpt, capsys):
    from nas.cli import main
    from search_spaces import load_space

    folder, space = ckpt
    out = tmp_path / "space.yaml"
    assert (
        main(["spaces", "from-hf", str(folder), "--out", str(out), "--name", "tiny-llama", "--seq-len", "16"])
        == 0
    )
    assert load_space(out).to_dict() == space.to_dict()
    assert load_space(out).largest() == space.largest()
    flat = tmp_path / "flat.yaml"
    assert main(["spaces", "from-hf", str(folder), "--out", str(flat), "--seq-len", "16", "--per-model"]) == 0
    flat_space = load_space(flat)
    assert not flat_space.layer_dims and tuple(flat_space.global_dims["num_kv_heads"]) == (1, 2)
    from search_spaces import params
    from supernet.pretrained import llama_layout

    assert params(flat_space, flat_space.largest()) == params(space, space.largest())
    assert all(llama_layout.why_not_llama(flat_space, a) is None for a in flat_space.sample_many(0, 20))

    def bad(name, edit=None, drop=None, config=None, **kw):
        d = write_tiny_llama(tmp_path / name, **kw)
        if config:
            c = json.loads((d / "config.json").read_text())
            c.update(config)
            (d / "config.json").write_text(json.dumps(c))
        if drop:
            (d / drop).unlink()
        if edit:
            from safetensors.numpy import load_file, save_file

            t = load_file(str(d / "model.safetensors"))
            edit(t)
            save_file(t, str(d / "model.safetensors"))
        run_main(capsys, ["spaces", "from-hf", d, "--out", tmp_path / f"{name}.yaml"], tmp_path)
        assert not (tmp_path / f"{name}.yaml").exists()
        return capsys

    bad("noconfig", drop="config.json")
    bad("noweights", drop="model.safetensors")
    for name, config in [
        ("gpt2", {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}),
        ("groups", {"num_key_value_heads": 3}),
        ("yarn", {"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}),
    ]:
        bad(name, config=config)
    bad("missing", edit=lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
    bad("shape", edit=lambda t: t.update({"model.norm.weight": np.ones(31, np.float32)}))
    messages = {
        "gpt2": "field 'model_type' is 'gpt2' (GPT2LMHeadModel)",
        "groups": "num_attention_heads 4 is not a multiple of num_key_value_heads 3",
        "yarn": "type 'yarn', which is not implemented",
        "missing": "tensor 'model.layers.1.mlp.up_proj.weight' is missing (expected shape (48, 32))",
        "shape": "tensor 'model.norm.weight' has shape (31,); config.json implies (32,)",
    }
    from search_spaces.errors import NasError
    from supernet.pretrained import hf_llama

    for name, msg in messages.items():
        with pytest.raises(NasError) as e:
            hf_llama.read(tmp_path / name)
        assert msg in str(e.value), (name, str(e.value))


def test_missing_shard_is_named_without_an_option_the_command_lacks(tmp_path, capsys):
    """``nas spaces from-hf`` and ``nas hf check`` take a FOLDER, not ``init_from``: a shard the
    index names but the folder lacks is one line naming the shard and the argument."""
    folder = write_tiny_llama(tmp_path / "sharded", sharded=True)
    (folder / "model-00002-of-00002.safetensors").unlink()
    space = tmp_path / "s.yaml"
    for argv in (
        ["spaces", "from-hf", folder, "--out", space],
        ["hf", "check", folder, "--space", "llama-shakespeare"],
    ):
        err = run_main(capsys, argv, tmp_path)
        assert "init_from" not in err, err
        assert "field 'folder'" in err and "no shard 'model-00002-of-00002.safetensors'" in err, err
    from search_spaces.errors import NasError
    from supernet import pretrained

    with pytest.raises(NasError, match="field 'init_from'.*no shard 'model-00002"):
        pretrained.read(folder)  # from a training config the field is init_from
