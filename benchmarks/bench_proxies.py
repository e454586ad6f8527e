"""Scoring many subnets with the default proxy set, as a ratio against one supernet evaluation.

    python benchmarks/bench_proxies.py [--space lm-shakespeare] [--n 1000] [--proxies a,b] [--n-eval 20]
        [--batch-size 16] [--seq-len T]

The target: 1,000 ``lm-shakespeare`` subnets scored with the default set
(:data:`supernet.proxies.DEFAULT`) in under 2 minutes on 2 cores, compile included.  Prints
the probe's build time (weights, data, the ensemble's reference sample), the compile time
(one program per embedding width), the scoring time of ``--n`` sampled subnets, and, measured
in the same run, the time of one inherited-weight evaluation of a subnet (the ``supernet``
evaluator's work per architecture: the validation split, 1,000 windows) and the ratio.  On a
shared machine the absolute times move with the load; the ratio less.  Each phase also prints
its process CPU time (user + system, both cores together) and the load average at the start
and the end, so a figure measured on a loaded machine can be read against an idle one.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import jax
import numpy as np


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="lm-shakespeare")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--proxies", default=None)
    ap.add_argument("--batch-size", type=int, default=16, help="probe examples (the scorer's default 16)")
    ap.add_argument(
        "--seq-len", type=int, default=None, help="truncate the probe's tokens (default: the context)"
    )
    ap.add_argument("--n-eval", type=int, default=20, help="subnets timed for the supernet evaluation")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    from search_spaces import load_space
    from supernet import data, evaluation, model
    from supernet import proxies as P

    space = load_space(args.space)
    names = args.proxies.split(",") if args.proxies else list(P.DEFAULT)
    archs = space.sample_many(0, args.n)
    t0, c0 = time.perf_counter(), _cpu()
    fn = P.scorer(space, names, batch_size=args.batch_size, seq_len=args.seq_len)
    fn([space.smallest()])  # the probe, the reference sample, and one width compiled
    t_probe = time.perf_counter() - t0
    widths = {}
    for a in archs:  # one architecture per width: the compiles
        widths.setdefault(int(a.embed_dim), a)
    t, c = time.perf_counter(), _cpu()
    c_probe = c - c0
    fn(list(widths.values()))
    t_compile, c_compile = time.perf_counter() - t, _cpu() - c
    t, c = time.perf_counter(), _cpu()
    rows = fn(archs)
    t_score, c_score = time.perf_counter() - t, _cpu() - c
    P.check_finite(rows, archs)

    ds = data.load(space)
    batches = data.val_batches(ds, batch_size=250, max_examples=1000)
    params = model.init(space, jax.random.PRNGKey(0))
    evaluation.evaluate(space, params, list(widths.values()), batches)  # compiled, as a search's worker is
    times, cpus = [], []
    for a in archs[: args.n_eval]:
        t, c = time.perf_counter(), _cpu()
        evaluation.evaluate(space, params, [a], batches)
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    t_eval, c_eval = float(np.median(times)), float(np.median(cpus))
    q1, q3 = np.percentile(times, [25, 75])
    per, cper = t_score / len(archs), c_score / len(archs)
    print(
        f"space {args.space}, proxies {names}, {len(archs)} subnets, {len(widths)} embedding widths, "
        f"probe batch {args.batch_size} x {args.seq_len or 'full context'}"
    )
    print(f"load average (1 min) at start {load0:.1f}, at end {os.getloadavg()[0]:.1f}")
    print(f"probe + reference {t_probe:.1f} s wall, {c_probe:.1f} s CPU")
    print(f"compile of the other widths {t_compile:.1f} s wall, {c_compile:.1f} s CPU")
    print(
        f"scoring {t_score:.1f} s wall ({1000 * per:.1f} ms per subnet), {c_score:.1f} s CPU ({1000 * cper:.1f} ms "
        f"per subnet); total with compile {t_probe + t_compile + t_score:.1f} s wall, "
        f"{c_probe + c_compile + c_score:.1f} s CPU"
    )
    print(
        f"one supernet evaluation (median of {len(times)} subnets, 1,000 windows): {1000 * t_eval:.1f} ms wall "
        f"(IQR {1000 * q1:.0f}-{1000 * q3:.0f}), {1000 * c_eval:.1f} ms CPU"
    )
    print(f"ratio proxy / supernet evaluation per subnet: {per / t_eval:.3f} wall, {cper / c_eval:.3f} CPU")


if __name__ == "__main__":
    main()
