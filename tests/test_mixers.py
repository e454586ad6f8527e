"""Token mixers as plug-ins (issue 30): one test table every mixer joins, and the contract's rules."""

from __future__ import annotations

import ast

import jax
import numpy as np
import pytest
from conftest import ROOT

from search_spaces import SearchSpace, mixers, params
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

CHOICES = ["sdp", "linear"]  # a new mixer joins here (with each option it has)


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
            if not causal or mixers.get(c).spec.causal:
                yield pytest.param(c, causal, id=f"{c}-{'causal' if causal else 'bidirectional'}")


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


@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_mixed_subnets_equal_their_standalone_models(causal):
    """Mixers side by side in one subnet, at the largest width and random ones."""
    space, geo, p = _supernet(causal)
    for arch in [space.largest(), *space.sample_many(3, 2)]:
        _check(space, geo, p, arch, 1e-4)
