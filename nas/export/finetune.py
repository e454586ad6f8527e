"""Fine-tuning an exported standalone subnet on its task, outside the supernet.

The bundle's weights are trained for a few AdamW steps (Loshchilov & Hutter,
ICLR 2019) on the task's training stream (``supernet.data``), evaluated on the
validation split before and after, and written back atomically with the
before/after metrics in ``config.json`` and the model card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas.export.bundle import write_bundle
from nas.export.load import load_subnet
from search_spaces import NasError
from supernet import data
from supernet.losses import cross_entropy


def _loss(logits: jax.Array, y: jax.Array) -> jax.Array:
    return cross_entropy(logits, y)  # over the labelled positions (y >= 0)


def _accuracy(logits: jax.Array, y: jax.Array) -> jax.Array:
    valid = y >= 0
    return ((logits.argmax(-1) == y) & valid).sum() / jnp.maximum(valid.sum(), 1)


def evaluate_standalone(
    apply_fn,
    variables: Any,
    space,
    *,
    max_examples: int = 1000,
    batch_size: int = 100,
    ds: data.Dataset | None = None,
) -> dict:
    """Validation metrics of the space's task kind (e.g. accuracy and loss, or loss and perplexity)."""
    ds = ds if ds is not None else data.load(space)
    batches = data.val_batches(ds, batch_size=batch_size, max_examples=max_examples)
    f = jax.jit(lambda v, x, y: (_loss(apply_fn(v, x), y), _accuracy(apply_fn(v, x), y)))
    losses, accs = zip(
        *[(float(a), float(b)) for a, b in (f(variables, x, y) for x, y in batches)], strict=True
    )
    return ds.task.metrics(float(np.mean(losses)), float(np.mean(accs)))


def finetune(
    path: str | Path,
    *,
    steps: int,
    learning_rate: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    onnx: bool = True,
) -> dict:
    """Trains the bundle at ``path`` for ``steps`` steps; returns ``{"before", "after", "steps"}``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise NasError(f"field '--steps': expected an integer >= 1, got {steps!r}")
    if not learning_rate > 0:
        raise NasError(f"field '--lr': expected a positive number, got {learning_rate!r}")
    if not onnx and (Path(path) / "model.onnx").is_file():
        raise NasError(
            f"field '--no-onnx': bundle '{path}' holds a model.onnx that fine-tuning would leave stale; "
            "drop --no-onnx to rewrite it with the new weights"
        )
    sub = load_subnet(path)
    space, apply_fn = sub.space, sub.apply
    data_cfg = sub.config.get("data") or {}
    ds = data.load(space, data_cfg, home=sub.path)
    before = evaluate_standalone(apply_fn, sub.variables, space, ds=ds)
    opt = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(optax.cosine_decay_schedule(learning_rate, steps), weight_decay=0.01),
    )

    @jax.jit
    def step(variables, opt_state, x, y):
        loss, grads = jax.value_and_grad(lambda v: _loss(apply_fn(v, x), y))(variables)
        updates, opt_state = opt.update(grads, opt_state, variables)
        return optax.apply_updates(variables, updates), opt_state, loss

    weights_dtype = sub.config.get("weights_dtype", "float32")  # trained in float32, stored as before
    variables = jax.tree.map(
        lambda a: jnp.asarray(a, jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else jnp.asarray(a),
        sub.variables,
    )
    opt_state = opt.init(variables)
    for i in range(steps):
        x, y = data.train_batch(ds, step=i, batch_size=batch_size, seed=seed)
        variables, opt_state, _ = step(variables, opt_state, x, y)
    after = evaluate_standalone(apply_fn, variables, space, ds=ds)
    cfg = sub.config
    record = {"steps": steps, "learning_rate": learning_rate, "seed": seed, "before": before, "after": after}
    write_bundle(
        path,
        space=space,
        arch=sub.arch,
        variables=variables,
        provenance=dict(cfg.get("provenance", {}), finetuned_from=str(path)),
        metrics={f"finetuned_{k}": v for k, v in after.items()} | cfg.get("metrics", {}),
        predicted_latency_ms=cfg.get("predicted_latency_ms"),
        measure_latency=True,
        onnx=onnx,
        extra={"finetune": record, "data": data_cfg}
        | (
            {"predicted_latency_bounds_ms": cfg["predicted_latency_bounds_ms"]}
            if "predicted_latency_bounds_ms" in cfg
            else {}
        ),
        files=[Path(path) / f for f in data.RUN_FILES if (Path(path) / f).is_file()],
        weights_dtype=weights_dtype,
    )
    return record
