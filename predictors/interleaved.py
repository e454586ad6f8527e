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

On a virtual machine the hypervisor also takes the core away ("steal" time in
``/proc/stat``): a visit during which the pinned core's steal counter moved is
timed again (up to ``visit_tries`` times), and the visits still disturbed are
counted in ``stolen_visits``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from predictors.measure import BACKENDS, default_core, fingerprint, prepare, summarize, time_callable
from search_spaces import ArchConfig, NasError, SearchSpace, load_space


def steal_ticks(core: int | None) -> int:
    """Hypervisor steal time of ``core`` (all cores if None) in clock ticks; 0 where unknown."""
    key = "cpu " if core is None else f"cpu{core} "
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith(key):
                    fields = line.split()
                    return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        pass
    return 0


def time_group(
    calls: Sequence[Callable[[], None]],
    *,
    rounds: int,
    repeats: int,
    warmup: int,
    core: int | None,
    block_ms: float = 2.0,
    seed: int = 0,
    visit_tries: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times every call in every round, in a seeded random order per round.

    Returns ``(times, round_medians, calls_per_block, stolen)``: per-call ms of every
    block ``(len(calls), rounds, repeats)``, their medians per round ``(len(calls),
    rounds)``, calls per block and, per call, the visits whose core saw steal time
    in all ``visit_tries`` tries.
    """
    rng = np.random.default_rng(seed)
    n = len(calls)
    times = np.empty((n, rounds, repeats))
    k = np.zeros(n, np.int64)
    stolen = np.zeros(n, np.int64)
    for r in range(rounds):
        for j in rng.permutation(n):
            for _ in range(max(1, visit_tries)):
                s0 = steal_ticks(core)
                times[j, r], k[j] = time_callable(
                    calls[j], repeats=repeats, warmup=warmup, core=core, block_ms=block_ms
                )
                if steal_ticks(core) == s0:
                    break
            else:
                stolen[j] += 1
    return times, np.median(times, axis=2), k, stolen


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
    provider: str | None = None,
) -> list[dict[str, Any]]:
    """Latency records of ``archs``, measured interleaved (see the module docstring).

    Each record has the fields of :func:`predictors.measure.measure` (``median_ms`` is
    the median over rounds of each round's median block; ``iqr_ms``, ``cv``, ``min_ms``,
    ``max_ms`` and ``mean_ms`` are over all blocks) plus ``rounds``, ``round_iqr_ms``
    (the spread of the per-round medians) and ``stolen_visits``.
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
    prepared = [
        prepare(space, a, backend=backend, batch_size=batch_size, seq_len=seq_len, provider=provider)
        for a in archs
    ]
    times, med, k, stolen = time_group(
        [c for c, _ in prepared],
        rounds=rounds,
        repeats=repeats,
        warmup=warmup,
        core=core,
        block_ms=block_ms,
        seed=seed,
    )
    fp = fingerprint(backend=backend, batch_size=batch_size, seq_len=seq_len, provider=provider)
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
            stolen_visits=int(stolen[j]),
            compile_s=float(compile_s),
            core=core,
            fingerprint=dict(fp),
        )
        peak = getattr(prepared[j][0], "peak_mb", None)
        if peak is not None:  # XLA's memory analysis of the compiled forward (jax backend)
            rec["peak_mb"] = peak
        out.append(rec)
    return out
