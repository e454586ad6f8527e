"""The realistic built-in spaces (GPT-2 small, ViT small) build, run and train one step; buildability."""

from __future__ import annotations

import guides
import jax
import numpy as np
import pytest

from search_spaces import NasError, SearchSpace, complexity, load_space


def test_gpt2_small_largest_subnet_is_gpt2_small(cli):
    space = load_space("gpt2-small")
    assert int(complexity(space, [space.largest()])["params"][0]) == 124_439_808  # GPT-2 small, tied head
    r = cli("spaces", "show", "gpt2-small", "--batch-size", "8", "--seq-len", "256")
    assert r.returncode == 0, r.stderr
    assert (
        "params 124.44M" in r.stdout
        and "training memory ~" in r.stdout
        and "batch 8 x 256 tokens" in r.stdout
    )
    r = cli("spaces", "show", "gpt2-small", "--seq-len", "4096")
    assert r.returncode == 2 and "'--seq-len'" in r.stderr and "1024" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2-small", "vit-small"])
def test_realistic_space_forward_and_one_training_step(name):
    import optax

    from supernet import model, tasks
    from supernet.train import StepFns

    space = load_space(name)
    geo = model.geometry(space)
    params = model.init(space, jax.random.key(0))
    x = np.asarray(tasks.get(space).random_input(space, 1, 0))
    if geo.task.lookup:
        x = x[:, :8]  # a short sequence: positions are sliced
        y = np.roll(x, -1, axis=1)
    else:
        y = np.zeros((1,), np.int32)
    arch = space.sample(0)
    logits = model.apply(params, x, arch, geo=geo)
    assert logits.shape == ((1, 8, 50257) if geo.task.lookup else (1, 1000)) and np.isfinite(logits).all()
    tx = optax.adamw(1e-3)
    fns = StepFns(geo, tx)
    new, _, losses = fns.step(params, tx.init(params), x, y, [arch], distill=False, put=jax.numpy.asarray)
    assert np.isfinite(losses).all()
    assert not np.allclose(new["ln_f"]["scale"], params["ln_f"]["scale"])  # the step changed the weights


def test_unimplemented_dimension_is_named_unless_searched_only():
    from supernet import model

    dims = {"num_heads": [1, 2], "mlp_dim": [8], "activation": ["gelu", "relu"]}
    task = {"kind": "vit", "image_size": 8, "patch_size": 4, "channels": 1, "num_classes": 2, "head_dim": 4}
    space = SearchSpace(
        name="s", max_depth=1, global_dims={"embed_dim": [8], "bias": [True]}, layer_dims=dims, task=task
    )
    with pytest.raises(NasError, match="does not implement dimension 'bias'"):
        model.geometry(space)
    ok = SearchSpace(
        name="s",
        max_depth=1,
        global_dims={"embed_dim": [8], "bias": [True]},
        layer_dims=dims,
        task={**task, "searched_only": ["bias", "activation"]},
    )
    assert model.geometry(ok).embed_choices == (8,)


def test_readme_space_yaml_builds(tmp_path):
    """README's 'Declare your own in YAML' block: a buildable LM space whose 'bias' is searched only."""
    import re

    from search_spaces import load_space_file
    from supernet import model

    block = re.findall(r"```yaml\n(name: my-space.*?)```", guides.text(), flags=re.S)[0]
    (tmp_path / "my-space.yaml").write_text(block)
    space = load_space_file(tmp_path / "my-space.yaml")
    geo = model.geometry(space)
    assert geo.mlp_widths(256) == (512, 768, 1024) and geo.task.causal
    assert complexity(space, [space.largest()])["params"][0] > 0
