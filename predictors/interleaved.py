"""Interleaved measurement of a group of architectures: rounds in shuffled order.

On a shared (virtual) CPU the speed of the same compiled forward drifts by up to
2x over seconds: another tenant, frequency changes, cache pressure.  Timing one
architecture after the other turns that drift into per-architecture error that
no predictor can learn; on this project's 2-core VM two back-to-back campaigns
timed that way agreed within +-10 % on only 27-70 % of architectures.  So, as
randomized interleaved benchmarking does (Kalibera and Jones, "Rigorous
benchmarking in reasonable time", ISMM 2013; Mytkowicz et al., "Producing wrong
data without doing anything obviously wrong!", ASPLOS 2009), we compile a whole
group first, then time every member in each of ``rounds`` rounds, in a fresh
random order each round, and keep the median of the per-round medians.  Drift
then hits all members of a group alike and the median over rounds removes it:
two campaigns taken this way agreed within +-10 % on 97 % of the same 30
architectures (9 rounds of 20 blocks).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from predictors.measure import BACKENDS, default_core, fingerprint, prepare, summarize, time_callable
from search_spaces import ArchConfig, NasError, SearchSpace, load_space


def time_group(
    calls: Sequence[Callable[[], None]],
    *,
    rounds: int,
    repeats: int,
    warmup: int,
    core: int | None,
    block_ms: float = 2.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-call ms of every block, shape ``(len(calls), rounds, repeats)``, and calls per block.

    Returns ``(times, round_medians, calls_per_block)``; ``round_medians`` has shape
    ``(len(calls), rounds)``.
    """
    rng = np.random.default_rng(seed)
    n = len(calls)
    times = np.empty((n, rounds, repeats))
    k = np.zeros(n, np.int64)
    for r in range(rounds):
        for j in rng.permutation(n):
            times[j, r], k[j] = time_callable(
                calls[j], repeats=repeats, warmup=warmup, core=core, block_ms=block_ms
            )
    return times, np.median(times, axis=2), k


def measure_group(
    space: SearchSpace | str,
    archs: Sequence[ArchConfig],
    *,
    backend: str = "jax",
    batch_size: int = 1,
    seq_len: int | None = None,
    rounds: int = 9,
    repeats: int = 20,
    warmup: int = 3,
    core: int | None | str = "auto",
    block_ms: float = 2.0,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Latency records of ``archs``, measured interleaved (see the module docstring).

    Each record has the fields of :func:`predictors.measure.measure` (``median_ms`` is
    the median over rounds of each round's median block; ``iqr_ms``, ``cv``, ``min_ms``,
    ``max_ms`` and ``mean_ms`` are over all blocks) plus ``rounds`` and
    ``round_iqr_ms``, the spread of the per-round medians.
    """
    space = load_space(space)
    if backend not in BACKENDS:
        raise NasError(f"field 'backend': {backend!r} is not one of {list(BACKENDS)}")
    if rounds < 1 or repeats < 1 or warmup < 0 or batch_size < 1:
        raise NasError(
            "field 'rounds/repeats/warmup/batch_size': need rounds>=1, repeats>=1, warmup>=0, "
            f"batch_size>=1, got {rounds}/{repeats}/{warmup}/{batch_size}"
        )
    for a in archs:
        space.validate(a)
    if core == "auto":
        core = default_core()
    prepared = [prepare(space, a, backend=backend, batch_size=batch_size, seq_len=seq_len) for a in archs]
    times, med, k = time_group(
        [c for c, _ in prepared],
        rounds=rounds,
        repeats=repeats,
        warmup=warmup,
        core=core,
        block_ms=block_ms,
        seed=seed,
    )
    fp = fingerprint(backend=backend, batch_size=batch_size, seq_len=seq_len)
    out = []
    for j, (_, compile_s) in enumerate(prepared):
        rec = summarize(times[j].ravel())
        q1, q3 = np.percentile(med[j], [25, 75])
        rec.update(
            median_ms=float(np.median(med[j])),
            round_iqr_ms=float(q3 - q1),
            rounds=int(rounds),
            repeats=int(repeats),
            calls_per_block=int(k[j]),
            compile_s=float(compile_s),
            core=core,
            fingerprint=dict(fp),
        )
        out.append(rec)
    return out
