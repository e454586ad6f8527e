"""Statistics of the fidelity study: rank agreement with bootstrap intervals, top-k precision,
per-FLOPs-quartile gaps.

Rank correlations are Kendall's tau-b and Spearman's rho (vectorized over the resamples;
equal to scipy's ``kendalltau`` and ``spearmanr``); their 95 % intervals
are percentile bootstraps over the subnets (Efron & Tibshirani, "An Introduction to the
Bootstrap", 1993, ch. 13): the subnets are resampled with replacement ``n_boot`` times
with a seeded generator, so the same inputs give the same interval.  A resample whose
values are all tied has no correlation and is skipped.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nas.rank_stats import (  # noqa: F401  (re-exported: the study's statistics live in nas.rank_stats)
    _interval,
    _kendall,
    _spearman,
    bootstrap,
    kendall,
    kendall_difference,
    paired_difference,
    spearman,
)


def top_precision(
    predicted: Sequence[float], truth: Sequence[float], *, frac: float = 0.25, lower_better: bool
) -> float:
    """Share of the true best ``frac`` of the subnets that the predicted best ``frac`` contains."""
    k = max(1, int(round(frac * len(truth))))
    sign = 1.0 if lower_better else -1.0
    best_true = set(np.argsort(sign * np.asarray(truth), kind="stable")[:k].tolist())
    best_pred = set(np.argsort(sign * np.asarray(predicted), kind="stable")[:k].tolist())
    return len(best_true & best_pred) / k


def quartile_gaps(flops: Sequence[float], inherited: Sequence[float], alone: Sequence[float]) -> list[float]:
    """Mean inherited-minus-stand-alone metric per FLOPs quartile, smallest quartile first."""
    order = np.argsort(np.asarray(flops), kind="stable")
    gap = np.asarray(inherited, dtype=float) - np.asarray(alone, dtype=float)
    return [float(gap[q].mean()) for q in np.array_split(order, 4)]


def regret(value: float, best: float, *, lower_better: bool) -> float:
    """How much worse ``value`` is than ``best``: relative for a lower-is-better metric (perplexity),
    in points for a higher-is-better one (accuracy); negative when ``value`` beats ``best``."""
    return (value - best) / best if lower_better else best - value
