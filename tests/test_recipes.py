"""The supernet recipes of issue 21 as a training config selects them: in-place distillation
from the largest subnet without any checkpoint to start from, ElasticViT's full bin walk with
adaptive bin probabilities, and their state through a real Orbax checkpoint."""

from __future__ import annotations

import json
import shutil

import numpy as np

from tests.conftest import ROOT

RECIPE = [
    "steps=4",
    "checkpoint_every=2",
    "log_every=1",
    "eval_max_examples=100",
    "distill=true",
    "sampler.options={k: 1, num_bins: 3, pool_size: 2000, include_extremes: true, adaptive: true, walk_step: 2}",
]


def _records(workdir):
    return [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_full_recipe_distils_from_the_largest_subnet_and_resumes_from_its_checkpoint(tmp_path):
    """Distillation (no ``init_from``) + extremes + a 2-bin walk step + adaptive bin probabilities,
    from a config.  Step 3's logged losses, recomputed from the step-2 checkpoint: the largest
    subnet's is its label cross-entropy, the smallest's the cross-entropy against the largest's
    soft predictions.  A run resumed from that checkpoint logs what the uninterrupted run logged."""
    import jax
    import optax

    from supernet import checkpoint, data, model
    from supernet.config import load_config
    from supernet.train import train_and_evaluate

    cfg = load_config(ROOT / "experiments/train_tiny.yaml", RECIPE)
    assert cfg["init_from"] is None
    final = train_and_evaluate(cfg, tmp_path, quiet=True)
    full = _records(tmp_path)
    steps = [r for r in full if "losses" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert all(len(r["losses"]) == 4 for r in steps)  # largest, smallest, the bin's smallest, k=1
    probs = steps[-1]["bin_probs"]
    assert len(probs) == 3 and abs(sum(probs) - 1) < 1e-3 and len({round(p, 4) for p in probs}) > 1

    shutil.rmtree(tmp_path / "checkpoints" / "4")  # as if killed between the checkpoints at 2 and 4
    space, params, _ = checkpoint.load(tmp_path)
    x, y = data.train_batch(data.load(space, {}, home=tmp_path), step=2, batch_size=16, seed=0)
    geo = model.geometry(space)
    teacher = model.apply(params, x, space.largest(), geo=geo)
    student = model.apply(params, x, space.smallest(), geo=geo)
    label = [float(optax.softmax_cross_entropy_with_integer_labels(z, y).mean()) for z in (teacher, student)]
    kd = float(optax.softmax_cross_entropy(student, jax.nn.softmax(teacher)).mean())
    np.testing.assert_allclose(steps[2]["losses"][:2], [label[0], kd], rtol=1e-4)
    assert abs(kd - label[1]) > 1e-3

    again = train_and_evaluate(cfg, tmp_path, quiet=True)
    assert _records(tmp_path) == full and again == final
