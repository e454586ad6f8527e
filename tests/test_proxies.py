"""Zero-cost proxies (supernet/proxies): reproducible, finite, blind to the order within a batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT

from search_spaces import ArchConfig, load_space
from search_spaces.errors import NasError

FAST = ["params", "nonembed_params", "flops", "snip", "naswot", "head_importance", "head_confidence", "dss"]


@pytest.fixture(scope="module")
def lm_tiny():
    from supernet import proxies as P

    space = load_space(str(ROOT / "experiments/spaces/lm-tiny.yaml"))
    return space, P.make_probe(space, seed=0, batches=1, batch_size=4)


def _archs(space):
    return [space.smallest(), space.largest(), *space.sample_many(3, 2)]


def test_values_are_finite_reproducible_and_rank_sizes(lm_tiny):
    from supernet import proxies as P

    space, probe = lm_tiny
    archs = _archs(space)
    rows = P.score(probe, archs, FAST)
    assert all(math.isfinite(v) for r in rows for v in r.values())
    again = P.score(P.make_probe(space, seed=0, batches=1, batch_size=4), archs, FAST)
    assert rows == again  # same seed, same batches, same numbers
    other = P.score(P.make_probe(space, seed=1, batches=1, batch_size=4), archs, FAST)
    assert [r["snip"] for r in other] != [r["snip"] for r in rows]  # the seed matters
    small, large = rows[0], rows[1]
    assert large["params"] > small["params"] and large["nonembed_params"] > small["nonembed_params"]
    assert 0 < large["nonembed_params"] < large["params"]


def test_independent_of_the_order_of_examples(lm_tiny):
    from supernet import proxies as P

    space, probe = lm_tiny
    (x, y), perm = probe.batches[0], np.array([2, 0, 3, 1])
    shuffled = probe._replace(batches=((x[perm], y[perm]),))
    archs = _archs(space)
    a, b = P.score(probe, archs, FAST), P.score(shuffled, archs, FAST)
    for ra, rb in zip(a, b, strict=True):
        for k in FAST:
            assert ra[k] == pytest.approx(rb[k], rel=1e-4, abs=1e-5), k


def test_layers_without_softmax_heads_are_skipped(lm_tiny):
    """The documented rule: attention-probability proxies count softmax layers only."""
    from supernet import proxies as P

    space, probe = lm_tiny
    linear = ArchConfig.make(
        depth=2, embed_dim=32, num_heads=[2, 2], mlp_dim=[64, 64], attn_type=["linear"] * 2
    )
    mixed = linear.replace(attn_type=("softmax", "linear"))
    r_lin, r_mix = P.score(probe, [linear, mixed], FAST)  # the same programs as above: no compile
    assert r_lin["head_confidence"] == 0.0 < r_mix["head_confidence"]
    assert r_lin["head_importance"] > 0  # gates on heads exist for linear attention too


def test_linear_algebra_runs_one_matrix_per_lapack_call(lm_tiny):
    """jaxlib 0.10.2's CPU LAPACK kernels split a batch of matrices over XLA's intra-op pool and
    block on it: concurrent batched calls deadlocked the all-proxy program (Llama, text
    classification). Every LAPACK call in a proxy program must be unbatched (rank-2 operand)."""
    import re

    import jax.numpy as jnp

    from supernet import proxies as P
    from supernet.proxies.probe import codes_of, nuclear_norms

    space, probe = lm_tiny
    E, codes = codes_of(probe, space.largest())
    x, y = probe.batches[0]
    wanted = ("synaptic_diversity", "naswot", "hidden_covariance")  # the SVD, LU and eigh users
    text = P._program_jit.lower(probe.params, x, y, codes, geo=probe.geo, E=E, wanted=wanted).as_text()
    calls = re.findall(r"custom_call @(lapack_\w+)\(.*?\).*?: \((tensor<[^>]*>)", text)
    assert {name[8:12] for name, _ in calls} >= {"gesd", "getr", "syev"}, calls
    for name, operand in calls:
        assert operand.count("x") == 2, (name, operand)  # tensor<NxMxf32>: one matrix
    m = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    want = [np.linalg.svd(a, compute_uv=False).sum() for a in m]
    np.testing.assert_allclose(np.asarray(nuclear_norms(jnp.asarray(m))), want, rtol=1e-5)


def test_bad_names_and_options_are_one_line():
    from supernet import proxies as P

    with pytest.raises(NasError, match="unknown proxy 'zen'"):
        P.check_names(["snip", "zen"])
    with pytest.raises(NasError, match="batch_size"):
        P.make_probe(load_space("vit-mnist"), batch_size=0)
    with pytest.raises(NasError, match="not finite"):
        P.check_finite([{"snip": float("nan")}], [load_space("vit-mnist").smallest()])


def test_the_ensemble_depends_on_the_architecture_only(lm_tiny):
    from supernet import proxies as P

    space, probe = lm_tiny
    archs = _archs(space)
    together = P.score(probe, archs, [*FAST, "ensemble"])
    alone = [P.score(probe, [a], [*FAST, "ensemble"])[0] for a in archs[:2]]
    assert [r["ensemble"] for r in together[:2]] == [r["ensemble"] for r in alone]
    assert all(0.0 <= r["ensemble"] <= 1.0 for r in together)


MIXED = """name: mix-tiny
max_depth: 3
global: {embed_dim: [32], depth: [2, 3]}
layer: {num_heads: [1, 2], mlp_dim: [32, 64], num_ffn: [1, 2], mixer: [sdp, linear, wma, dft, dct, dsc5, ecoformer8]}
task: {kind: vit, dataset: mnist, image_size: 28, patch_size: 7, channels: 1, num_classes: 10, head_dim: 8}
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["vit-tiny", "lm-tiny", "mlm-tiny", "mixers", "llama-shakespeare", "textcls-shakespeare"]
)
def test_every_proxy_is_finite_on_each_kind_of_space(name, tmp_path):
    """Every task kind and every mixer (heads or none: the skip rule keeps values finite).

    The ensemble ranks against the two architectures themselves (``reference``), not the
    32-architecture sample: the same code path at a fifteenth of the cost."""
    from supernet import proxies as P
    from supernet.proxies import ensemble

    path = ROOT / f"experiments/spaces/{name}.yaml"
    if name == "mixers":
        path = tmp_path / "mix.yaml"
        path.write_text(MIXED)
    space = load_space(str(path) if path.is_file() else name)
    probe = P.make_probe(space, seed=0, batches=1, batch_size=3, seq_len=16)
    archs = [space.smallest(), space.largest()]

    def every_proxy(probe):
        members = P.score(probe, archs, [n for n in P.names() if n != "ensemble"])  # the same program
        reference = {m: [r[m] for r in members] for m in ensemble.MEMBERS}
        return P.score(probe, archs, P.names(), reference=reference)

    rows = every_proxy(probe)
    P.check_finite(rows, archs)
    x, y = probe.batches[0]
    flipped = every_proxy(probe._replace(batches=((x[::-1], y[::-1]),)))
    for ra, rb in zip(rows, flipped, strict=True):
        for k in P.names():
            assert ra[k] == pytest.approx(rb[k], rel=1e-3, abs=1e-4), (name, k)
