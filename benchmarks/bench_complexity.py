"""Complexity scoring throughput, as a ratio against sampling the same batch.

    python benchmarks/bench_complexity.py [--n 100000]

Prints architectures per second of ``search_spaces.complexity`` on an ArchBatch, of
the vectorized sampler that produced it (baseline, same run), and their ratio.
The issue's goal is "well under a second" for 100k configurations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from search_spaces import complexity, load_space, sample_batch


def _best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    for name in ("vit-mnist", "charlm-shakespeare"):
        space = load_space(name)
        batch = sample_batch(space, 0, args.n)
        t_sample = _best_of(lambda space=space: sample_batch(space, 0, args.n))
        t_cx = _best_of(lambda space=space, batch=batch: complexity(space, batch))
        print(
            f"{name}: complexity of {args.n} archs {t_cx:.3f} s ({args.n / t_cx:,.0f}/s); "
            f"sampling baseline {t_sample:.3f} s; ratio complexity/sampling {t_cx / t_sample:.2f}"
        )


if __name__ == "__main__":
    main()
