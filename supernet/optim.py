"""The supernet's optimizer, on its own so that checkpoints can rebuild its state's
shapes without importing the trainer (checkpoint -> optim, train -> checkpoint,
evaluation -> checkpoint: no import loop)."""

from __future__ import annotations

from typing import Any

import optax


def make_optimizer(cfg: dict[str, Any]) -> optax.GradientTransformation:
    """AdamW with linear warm-up, cosine decay and global-norm clipping."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg["learning_rate"],
        warmup_steps=min(cfg["warmup_steps"], cfg["steps"] - 1),
        decay_steps=cfg["steps"],
        end_value=cfg["learning_rate"] * 0.01,
    )
    return optax.chain(
        optax.clip_by_global_norm(cfg["clip_norm"]),
        optax.adamw(schedule, weight_decay=cfg["weight_decay"]),
    )
