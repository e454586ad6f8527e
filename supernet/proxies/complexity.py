"""Proxies that need no weights and no data: the closed-form counts of :mod:`search_spaces.complexity`.

* ``params``: the subnet's parameter count, the baseline every proxy is judged against
  (NAS-Bench-Suite-Zero, Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks).
* ``nonembed_params``: the count without the token (or patch) embedding and the positional
  table; for GPT-2 decoders it ranks perplexity almost as well as training
  (LiteTransformerSearch, Javaheripi et al., NeurIPS 2022).  A tied output head shares the
  embedding and is not counted; an untied head is.
* ``flops``: forward FLOPs at the task's context (Abdelfattah et al., ICLR 2021, as a baseline).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces.complexity import complexity
from search_spaces.geometry import task_geometry


def values(space: SearchSpace, archs: Sequence[ArchConfig], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The requested counts of each architecture, float64 arrays of shape (n,)."""
    c = complexity(space, list(archs))
    geo = task_geometry(space)
    E = np.array([float(a.embed_dim) for a in archs])
    embed = geo.in_dim * E + (0.0 if geo.lookup else E)  # token table, or patch projection and bias
    pos = 0.0 if geo.llama else geo.tokens * E
    table = {"params": c["params"], "nonembed_params": c["params"] - embed - pos, "flops": c["flops"]}
    return {k: np.asarray(table[k], dtype=np.float64) for k in names}
