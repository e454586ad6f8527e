"""The walk over complexity bins of the binned samplers, plain or with adaptive bin probabilities.

* :func:`walk` is ElasticViT's lazy random walk (Tang et al., ICCV 2023): stay with
  ``stay_prob``, else move 1..``max_step`` bins up or down (reflecting at the ends), so
  consecutive steps train subnets of similar complexity.  Its long-run visit frequency
  is uniform over the inner bins; the two end bins are visited about half as often
  (a reflected move from an end always goes inwards).
* :func:`adaptive_walk` keeps the same local moves but accepts them by a
  Metropolis-Hastings rule (Metropolis et al., 1953; Hastings, 1970) whose stationary
  distribution is a target over bins, so the walk spends more steps where the target is
  high while it still only moves between nearby bins.
* :func:`bin_probs` is that target in the spirit of ShiftNAS (Zhang et al., "ShiftNAS:
  Improving One-shot NAS via Probability Shift", ICCV 2023): the sampling probability over
  complexity shifts toward the bins whose subnets train worst, here measured by an
  exponential moving average of each bin's training loss (:func:`track_loss`).  A floor
  keeps every bin visited.

All functions are pure (a numpy Generator and plain lists in, plain values out), so the
sampler state that carries the per-bin losses stays JSON.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from search_spaces.errors import NasError


def check_walk_options(*, stay_prob: float, max_step: int) -> None:
    """One-line errors for ``sampler.stay_prob`` and ``sampler.walk_step``."""
    if not 0.0 <= stay_prob <= 1.0:
        raise NasError(f"field 'sampler.stay_prob': must be in [0, 1], got {stay_prob!r}")
    if isinstance(max_step, bool) or not isinstance(max_step, int) or max_step < 1:
        raise NasError(f"field 'sampler.walk_step': expected an integer >= 1, got {max_step!r}")


def check_adaptive_options(*, temperature: float, floor: float, decay: float) -> None:
    """One-line errors for the adaptive options (``adapt_temperature``, ``adapt_floor``, ``loss_decay``)."""
    if not (isinstance(temperature, (int, float)) and temperature > 0 and np.isfinite(temperature)):
        raise NasError(f"field 'sampler.adapt_temperature': must be a number > 0, got {temperature!r}")
    if not (isinstance(floor, (int, float)) and 0.0 <= floor <= 1.0):
        raise NasError(f"field 'sampler.adapt_floor': must be in [0, 1], got {floor!r}")
    if not (isinstance(decay, (int, float)) and 0.0 <= decay < 1.0):
        raise NasError(f"field 'sampler.loss_decay': must be in [0, 1), got {decay!r}")


def walk(rng: np.random.Generator, b: int, n: int, stay_prob: float, max_step: int = 1) -> int:
    """One lazy random-walk step on bins 0..n-1 (reflecting at the ends).

    With ``max_step`` 1 the draws are exactly those of the original one-bin walk."""
    if n == 1 or rng.random() < stay_prob:
        return b
    size = 1 if max_step == 1 else int(rng.integers(1, max_step + 1))
    step = size if rng.random() < 0.5 else -size
    nb = b + step
    if not 0 <= nb < n:
        nb = b - step
    return int(min(max(nb, 0), n - 1))


def _neighbours(b: int, n: int, max_step: int) -> list[int]:
    return [c for c in range(b - max_step, b + max_step + 1) if c != b and 0 <= c < n]


def adaptive_walk(
    rng: np.random.Generator, b: int, n: int, stay_prob: float, probs: Sequence[float], max_step: int = 1
) -> int:
    """One Metropolis-Hastings step whose stationary distribution over bins is ``probs``.

    Proposal: stay with ``stay_prob``, else a uniform bin within ``max_step`` of ``b``;
    acceptance ``min(1, p(b') |N(b)| / (p(b) |N(b')|))`` corrects for the ends having fewer
    neighbours."""
    if n == 1 or rng.random() < stay_prob:
        return b
    near = _neighbours(b, n, max_step)
    nb = near[int(rng.integers(len(near)))]
    accept = probs[nb] * len(near) / (probs[b] * len(_neighbours(nb, n, max_step)))
    return nb if rng.random() < accept else b


def bin_probs(losses: Sequence[float | None], *, temperature: float, floor: float) -> list[float]:
    """``floor / n + (1 - floor) * softmax(loss / temperature)`` over bins (ShiftNAS-style shift).

    A bin with no loss yet counts as the mean of the others (uniform when none has one)."""
    n = len(losses)
    seen = [v for v in losses if v is not None]
    if not seen:
        return [1.0 / n] * n
    fill = float(np.mean(seen))
    z = np.asarray([fill if v is None else v for v in losses], np.float64) / temperature
    w = np.exp(z - z.max())
    p = floor / n + (1.0 - floor) * w / w.sum()
    return [float(v) for v in p / p.sum()]


def track_loss(old: float | None, losses: Sequence[float], decay: float) -> float | None:
    """The bin's loss average after a step whose in-bin subnets had ``losses`` (EMA with ``decay``)."""
    if not losses:
        return old
    new = float(np.mean(losses))
    return new if old is None else float(decay * old + (1.0 - decay) * new)
