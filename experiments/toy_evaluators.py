"""Example user evaluators (``kind: callable``) for any search space.

A user evaluator is a function ``f(archs: list[ArchConfig], **options) ->
list[dict[str, float]]``.  These are SYNTHETIC: they score architectures by
their distance to a hidden target config, so that searches, tests and
benchmarks have a known optimum without training anything.

* ``synthetic``: ``score`` (to maximize; 0 at the target) and ``size`` (the
  encoding's sum, to minimize).  Options: ``sleep`` seconds per arch (to
  simulate a slow evaluation) and ``die_once`` (a file path: the first worker
  to see it missing creates it and exits hard, to simulate a crashed worker).
* ``busy``: the same metrics after a fixed amount of JAX matrix work per
  arch (``steps``), for throughput benchmarks.
"""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

import numpy as np

from search_spaces import ArchConfig, load_space


def _metrics(space_name: str, archs: list[ArchConfig]) -> list[dict[str, float]]:
    space = load_space(space_name)
    enc = space.encode(archs)
    scale = np.abs(space.encode([space.largest()])[0])
    scale = np.where(scale > 0, scale, 1.0)
    target = space.encode([space.sample(123)])[0]
    dist = np.abs(enc / scale - target / scale).sum(1)
    out = []
    for a, d, e in zip(archs, dist, enc, strict=True):
        jitter = np.random.default_rng(zlib.crc32(a.to_json().encode())).normal() * 0.01
        out.append({"score": float(-d + jitter), "size": float((e / scale).sum())})
    return out


def synthetic(
    archs: list[ArchConfig], *, space: str = "vit-mnist", sleep: float = 0.0, die_once: str | None = None
) -> list[dict[str, float]]:
    if die_once is not None and not Path(die_once).exists():
        Path(die_once).write_text(str(os.getpid()))
        os._exit(1)  # a crashed worker, for the fault-tolerance test
    if sleep:
        time.sleep(sleep * len(archs))
    return _metrics(space, archs)


_KERNEL = {}


def busy(archs: list[ArchConfig], *, space: str = "vit-mnist", steps: int = 30) -> list[dict[str, float]]:
    """The synthetic metrics after a fixed amount of JAX work (``steps`` chained
    256x256 matrix products per arch): CPU work, not wall-clock time, so that
    throughput with more workers grows only if they really run in parallel."""
    import jax
    import jax.numpy as jnp

    if "f" not in _KERNEL:
        _KERNEL["f"] = jax.jit(lambda x: jnp.tanh(x @ x) * 0.5)
        _KERNEL["x"] = jnp.ones((256, 256)) * 0.01
        _KERNEL["f"](_KERNEL["x"]).block_until_ready()
    for _ in archs:
        x = _KERNEL["x"]
        for _ in range(steps):
            x = _KERNEL["f"](x)
        x.block_until_ready()
    return _metrics(space, archs)
