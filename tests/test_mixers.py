"""Token mixers as plug-ins (issue 30): one test table every mixer joins, and the contract's rules."""

from __future__ import annotations

import ast

import jax
import numpy as np
import pytest
from conftest import ROOT

from search_spaces import NasError, SearchSpace, mixers, params
from supernet import model, standalone
from supernet.extract import extract

MIXER_PACKAGES = ("search_spaces/mixers", "supernet/mixers")
# string literals equal to a mixer name that mean something else (a predictor model, a RoPE scaling)
NOT_A_MIXER = {
    ("predictors/models/__init__.py", "linear"),
    ("predictors/fitting.py", "linear"),
    ("predictors/hat.py", "linear"),
    ("search_spaces/geometry.py", "linear"),
    ("supernet/llama.py", "linear"),
}


def _named_mixers(path) -> set[str]:
    words = {n for s in mixers.specs() for n in (s.name, *s.aliases)}
    tree = ast.parse(path.read_text())
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in words}


def test_no_file_outside_the_mixer_packages_names_a_mixer():
    """Adding a mixer touches its two files (and the tests), nothing else: no module of the
    packages compares or builds a mixer's name (a string literal equal to one)."""
    found = []
    for package in ("search_spaces", "supernet", "predictors", "nas"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(MIXER_PACKAGES):
                continue
            found += [(rel, n) for n in _named_mixers(path) if (rel, n) not in NOT_A_MIXER]
    assert found == []


def test_every_mixer_has_both_halves_and_cites_its_paper():
    from supernet import mixers as ops

    for s in mixers.specs():
        assert s.paper and ops.ops(mixers.Choice(s, s.default_option)).forward
        assert (ROOT / "search_spaces/mixers" / f"{s.name}.py").exists()
        assert (ROOT / "supernet/mixers" / f"{s.name}.py").exists()


# ---- the table every mixer joins -----------------------------------------------------------

CHOICES = [
    "sdp",
    "linear",
    "wma",
    "dft",
    "dct",
    "dsc5",
    "dsc9",
    "ecoformer8",
    "cga",
]  # a new mixer joins here


def _space(choices: list[str], *, causal: bool) -> SearchSpace:
    task = {"kind": "lm", "vocab_size": 61, "seq_len": 12, "head_dim": 8}
    if not causal:
        task.update(kind="text_classification", num_classes=3)
    return SearchSpace(
        name="mixers-table",
        max_depth=2,
        global_dims={"embed_dim": [16, 24], "depth": [1, 2]},
        layer_dims={"num_heads": [1, 2], "mlp_dim": [16, 32], "mixer": choices, "num_ffn": [1, 2]},
        task=task,
    )


_SUPERNETS: dict[bool, tuple] = {}


def _supernet(causal: bool) -> tuple:
    """One supernet per causal mode holding every mixer of the table (built once per session)."""
    if causal not in _SUPERNETS:
        space = _space([c for c in CHOICES if not causal or mixers.get(c).spec.causal], causal=causal)
        _SUPERNETS[causal] = space, model.geometry(space), model.init(space, jax.random.key(0))
    return _SUPERNETS[causal]


def _check(space, geo, p, arch, tol):
    x = jax.random.randint(jax.random.key(1), (2, 12), 1, 61)
    sub = extract(p, arch, space=space)
    assert sum(v.size for v in jax.tree.leaves(sub)) == params(space, arch), arch.short()
    want = standalone.build(space, arch).apply(sub, x)
    got = model.apply(p, x, arch, geo=geo)
    np.testing.assert_allclose(got, want, atol=tol, rtol=tol, err_msg=arch.short())


def _cases():
    for c in CHOICES:
        for causal in (False, True):
            if not causal or mixers.get(c).spec.causal:  # the causal rows compile a second supernet
                marks = [pytest.mark.slow] if causal else []
                yield pytest.param(
                    c, causal, id=f"{c}-{'causal' if causal else 'bidirectional'}", marks=marks
                )


@pytest.mark.parametrize("choice,causal", list(_cases()))
def test_subnet_equals_its_standalone_model_and_params_match(choice, causal):
    """Each mixer in both causal modes, its weights shared in a supernet with every other mixer:
    the supernet's output equals the stand-alone model of the sliced weights (1e-5; FFT/DCT
    1e-4), whose parameter count is the complexity formula's."""
    space, geo, p = _supernet(causal)
    tol = 1e-4 if mixers.get(choice).spec.name in ("dft", "dct") else 1e-5
    for heads, ffn in ((2, 2), (1, 1)):
        arch = space.parse(
            {
                "depth": 2,
                "embed_dim": 16,
                "num_heads": [heads, 2],
                "mlp_dim": [32, 16],
                "num_ffn": [ffn, 1],
                "mixer": [choice, choice],
            }
        )
        _check(space, geo, p, arch, tol)


@pytest.mark.parametrize(
    "causal", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["bidirectional", "causal"]
)
def test_mixed_subnets_equal_their_standalone_models(causal):
    """Mixers side by side in one subnet (random ones at width 16: one compiled program)."""
    space, geo, p = _supernet(causal)
    for arch in space.sample_many(3, 2):
        _check(space, geo, p, arch.replace(embed_dim=16), 1e-4)


# ---- bad input: one line naming the field and the value, exit 2 ----------------------------

SPACE_YAML = """name: bad-mixers
max_depth: 2
global: {{embed_dim: [16], depth: [1, 2]}}
layer: {{num_heads: [2], mlp_dim: [32], {layer}}}
task: {{kind: {kind}, vocab_size: 61, seq_len: 12, head_dim: 8{extra}}}
"""


@pytest.mark.parametrize(
    "layer, causal, needles",
    [
        ("mixer: [sdp, fnet]", False, ["'fnet'", "known mixers", "dsc<kernel>"]),
        ("mixer: [sdp, dsc4]", False, ["'dsc4'", "kernel 4", "odd"]),
        ("mixer: [sdp5]", False, ["'sdp5'", "takes no option"]),
        ("mixer: [ecoformer0]", False, ["'ecoformer0'", "bits 0"]),
        ("mixer: [sdp], num_ffn: [0, 1]", False, ["num_ffn", "choice 0"]),
        ("mixer: [sdp, dft]", True, ["layer.mixer", "'dft'", "no causal form"]),
        ("attn_type: [dct]", True, ["layer.attn_type", "'dct'", "no causal form"]),
        ("mixer: [sdp], attn_type: [sdp]", False, ["'mixer'", "'attn_type'", "not both"]),
    ],
)
def test_bad_mixer_choices_are_one_line_exit_2(capsys, tmp_path, layer, causal, needles):
    from bad_input_helpers import run_main

    extra = "" if causal else ", num_classes: 3"
    path = tmp_path / "space.yaml"
    path.write_text(
        SPACE_YAML.format(layer=layer, kind="lm" if causal else "text_classification", extra=extra)
    )
    run_main(capsys, ["spaces", "show", path], tmp_path)
    # the same line from the library
    from search_spaces import load_space_file
    from search_spaces.geometry import task_geometry

    with pytest.raises(NasError) as e:
        task_geometry(load_space_file(path))
    for needle in needles:
        assert needle in str(e.value), str(e.value)


def test_an_arch_naming_an_unknown_mixer_is_rejected():
    with pytest.raises(NasError, match="unknown mixer 'fnet'"):
        mixers.get("fnet")
    space = _space(["sdp", "dsc5"], causal=False)
    with pytest.raises(NasError, match="dsc9"):
        space.parse(
            {
                "depth": 1,
                "embed_dim": 16,
                "num_heads": [2],
                "mlp_dim": [16],
                "num_ffn": [1],
                "mixer": ["dsc9"],
            }
        )


def test_aliases_and_options_resolve_to_one_canonical_key():
    assert mixers.get("softmax").key == mixers.get("sdp").key == "sdp"
    assert mixers.get("dsc").key == "dsc9" and mixers.get("dsc5").key == "dsc5"
    assert mixers.get("ecoformer").key == "ecoformer16"
    assert not mixers.get("dft").spec.causal and mixers.get("dsc5").spec.causal


def test_cascaded_group_attention_needs_whole_channel_splits():
    from search_spaces import space_from_dict

    d = yaml_space = {
        "name": "cga-bad",
        "max_depth": 1,
        "global": {"embed_dim": [16, 24]},
        "layer": {"num_heads": [3], "mlp_dim": [16], "mixer": ["sdp", "cga"]},
        "task": {"kind": "vit", "image_size": 28, "patch_size": 7, "channels": 1, "num_classes": 10, "head_dim": 8},
    }
    with pytest.raises(NasError, match=r"layer.mixer.*'cga'.*embed_dim 16 is not a multiple of num_heads 3"):
        space_from_dict(d)
    yaml_space["layer"]["mixer"] = ["sdp"]
    assert space_from_dict(d).layer_dims["mixer"] == ("sdp",)
