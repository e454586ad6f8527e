"""Scoring many subnets with the default proxy set, as a ratio against one supernet evaluation.

    python benchmarks/bench_proxies.py [--space lm-shakespeare] [--n 1000] [--proxies a,b]

Issue 31's target: 1,000 ``lm-shakespeare`` subnets scored with the default set
(:data:`supernet.proxies.DEFAULT`) in under 2 minutes on 2 cores, compile included.  Prints
the probe's build time (weights, data, the ensemble's reference sample), the compile time
(one program per embedding width), the scoring time of ``--n`` sampled subnets, and, measured
in the same run, the time of one inherited-weight evaluation of a subnet (the ``supernet``
evaluator's work per architecture: the validation split, 1,000 windows) and the ratio.  On a
shared machine the absolute times move 10-30 % with the load; the ratio less.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="lm-shakespeare")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--proxies", default=None)
    args = ap.parse_args()
    from search_spaces import load_space
    from supernet import data, evaluation, model
    from supernet import proxies as P

    space = load_space(args.space)
    names = args.proxies.split(",") if args.proxies else list(P.DEFAULT)
    archs = space.sample_many(0, args.n)
    t0 = time.perf_counter()
    fn = P.scorer(space, names)
    fn([space.smallest()])  # the probe, the reference sample, and one width compiled
    t_probe = time.perf_counter() - t0
    widths = {}
    for a in archs:  # one architecture per width: the compiles
        widths.setdefault(int(a.embed_dim), a)
    t = time.perf_counter()
    fn(list(widths.values()))
    t_compile = time.perf_counter() - t
    t = time.perf_counter()
    rows = fn(archs)
    t_score = time.perf_counter() - t
    P.check_finite(rows, archs)

    ds = data.load(space)
    batches = data.val_batches(ds, batch_size=250, max_examples=1000)
    params = model.init(space, jax.random.PRNGKey(0))
    evaluation.evaluate(space, params, list(widths.values()), batches)  # compiled, as a search's worker is
    times = []
    for a in archs[:20]:
        t = time.perf_counter()
        evaluation.evaluate(space, params, [a], batches)
        times.append(time.perf_counter() - t)
    t_eval = float(np.median(times))
    per = t_score / len(archs)
    print(f"space {args.space}, proxies {names}, {len(archs)} subnets, {len(widths)} embedding widths")
    print(f"probe + reference {t_probe:.1f} s; compile of the other widths {t_compile:.1f} s")
    print(
        f"scoring {t_score:.1f} s ({1000 * per:.1f} ms per subnet); total with compile {t_probe + t_compile + t_score:.1f} s"
    )
    print(f"one supernet evaluation (median of 20 subnets, 1,000 windows): {1000 * t_eval:.1f} ms")
    print(f"ratio proxy / supernet evaluation per subnet: {per / t_eval:.3f}")


if __name__ == "__main__":
    main()
