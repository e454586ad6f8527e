"""Built-in spaces that reproduce papers' design spaces: they load, sample, count and train."""

from __future__ import annotations

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


@pytest.mark.parametrize("name", ["vit-wide-deep"])
def test_paper_spaces_show_through_the_cli(cli, name):
    r = cli("spaces", "show", name)
    assert r.returncode == 0 and name in r.stdout, r.stderr[-2000:]
