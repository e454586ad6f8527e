"""A rank ensemble of proxies, per architecture and reproducible.

Rank voting over proxies (Abdelfattah et al., ICLR 2021, "vote"; Krishnakumar et al.,
NAS-Bench-Suite-Zero, NeurIPS 2022) ranks each proxy over the architectures scored together,
so an architecture's value would depend on which others share its batch.  Here each member is
ranked against a fixed *reference sample* of the space (``n`` architectures drawn with the
probe's seed): the ensemble is the mean over members of the share of the reference that the
architecture beats (ties count half), a number in [0, 1] that depends only on the architecture,
the seed and the probe.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from search_spaces import ArchConfig, SearchSpace

# The members: the proxy study's default set (experiments/results/proxy_study.md); the earlier
# members (nonembed_params, snip, naswot) ranked vit-mnist worse than params alone.
MEMBERS = ("params", "synaptic_diversity")
REFERENCE_SIZE = 32


def reference_archs(space: SearchSpace, *, seed: int, n: int = REFERENCE_SIZE) -> list[ArchConfig]:
    """The fixed reference sample the members are ranked against."""
    return space.sample_many(np.random.default_rng([seed, 31]), n)


def combine(values: Mapping[str, Sequence[float]], reference: Mapping[str, Sequence[float]]) -> np.ndarray:
    """(n,) ensemble values: mean over members of the empirical CDF against the reference."""
    out = None
    for name, v in values.items():
        v, ref = np.asarray(v, float)[:, None], np.asarray(reference[name], float)[None, :]
        share = ((v > ref).sum(1) + 0.5 * (v == ref).sum(1)) / ref.shape[1]
        out = share if out is None else out + share
    return out / len(values)
