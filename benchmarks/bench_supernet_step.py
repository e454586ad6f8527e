"""Supernet training step vs a standalone static model of the same architecture.

    JAX_PLATFORMS=cpu python benchmarks/bench_supernet_step.py [--steps 200] [--batch 128]
    JAX_PLATFORMS=cpu python benchmarks/bench_supernet_step.py --space lm-shakespeare --batch 16

Trains ``--steps`` optimizer steps of the ``--space`` supernet (default ``vit-mnist``;
any space whose task has built-in data) over uniformly
sampled random subnets (one subnet per step), then, for ``--compare`` of those
subnets, times the supernet's step against a jitted train step of the plain
``supernet.standalone`` model of exactly that architecture (same batch, same
AdamW update, compiled once per architecture), both warm, median of
``--repeats``.  Prints:

(a) the median ratio supernet step / standalone step (1.0 is the limit), in wall
    time and in CPU time of this process (the work done, which other processes'
    load on a shared machine hardly moves), with the load average at start and end;
(b) the number of XLA compiles of the supernet step functions after 10 % of
    the steps and at the end (bounded by the number of embedding widths, not by
    the number of steps);
and, for context, the median ratio of the largest model's standalone step to
each subnet's (what pure masking would cost at least), and for token tasks the
tokens per second of both steps (batch x sequence length / step time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from search_spaces import load_space  # noqa: E402
from supernet import any_model, data, extract, model  # noqa: E402
from supernet.config import load_config  # noqa: E402
from supernet.samplers import uniform  # noqa: E402
from supernet.train import StepFns, make_optimizer  # noqa: E402


def _timed_pair(fa, fb, repeats: int) -> tuple[float, float, float, float]:
    """Median wall and CPU seconds of ``fa`` and ``fb``, timed alternately (a shared machine's load drifts).

    Returns (wall a, wall b, cpu a, cpu b).  CPU time (all threads of this process) counts the
    work done and hardly moves with other processes' load; wall time is what a user waits.
    """
    jax.block_until_ready(fa())  # warm
    jax.block_until_ready(fb())
    wall: dict[int, list[float]] = {0: [], 1: []}
    cpu: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(repeats):
        for i, f in enumerate((fa, fb)):
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(f())
            cpu[i].append(time.process_time() - c)
            wall[i].append(time.perf_counter() - t)
    return tuple(float(np.median(v)) for v in (wall[0], wall[1], cpu[0], cpu[1]))


standalone_step = any_model.train_step  # (space, arch, tx) -> step(p, s, x, y) -> (p, s, loss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--compare", type=int, default=12, help="subnets timed against their standalone model")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--space", default="vit-mnist", help="a space whose task has built-in data")
    args = ap.parse_args()

    load0 = os.getloadavg()[0]
    space = load_space(args.space)
    geo = model.geometry(space)
    cfg = load_config(None, [f"steps={args.steps}", f"batch_size={args.batch}"])
    tx = make_optimizer(cfg)
    fns = StepFns(geo, tx)
    params = model.init(space, jax.random.key(args.seed))
    opt_state = tx.init(params)
    sampler = uniform(space, k=1)
    state = sampler.init(jax.random.key(1))
    ds = data.load(space)
    x, y = (jax.device_put(a) for a in data.train_batch(ds, step=0, batch_size=args.batch, seed=0))

    def put(c):
        return jax.device_put(c)

    archs, step_times, compiles_early = [], [], None
    t0 = time.perf_counter()
    for step in range(args.steps):
        (arch,), state = sampler.sample(jax.random.fold_in(jax.random.key(2), step), state, step)
        xb, yb = (jax.device_put(a) for a in data.train_batch(ds, step=step, batch_size=args.batch, seed=0))
        t = time.perf_counter()
        params, opt_state, _ = fns.step(params, opt_state, xb, yb, [arch], distill=False, put=put)
        jax.block_until_ready(params)
        step_times.append(time.perf_counter() - t)
        archs.append(arch)
        if step + 1 == max(1, args.steps // 10):
            compiles_early = fns.compiles()
    train_s = time.perf_counter() - t0
    compiles = fns.compiles()

    def super_fn(arch):
        return lambda: fns.step(params, opt_state, x, y, [arch], distill=False, put=put)[0]

    rng = np.random.default_rng(args.seed)
    chosen = [archs[i] for i in rng.choice(len(archs), size=min(args.compare, len(archs)), replace=False)]
    largest = space.largest()
    sub_l = extract(params, largest, space=space)["params"]
    step_l, opt_l = standalone_step(space, largest, tx), tx.init(sub_l)
    tokens = args.batch * int(np.prod(x.shape[1:2])) if geo.task.lookup else 0  # tokens per step
    rows = []
    for arch in chosen:
        sub = extract(params, arch, space=space)["params"]
        s_opt = tx.init(sub)
        step_fn = standalone_step(space, arch, tx)
        t_sup, t_std, c_sup, c_std = _timed_pair(
            super_fn(arch), lambda f=step_fn, p=sub, o=s_opt: f(p, o, x, y)[0], args.repeats
        )
        t_largest, t_std2, _, _ = _timed_pair(
            lambda: step_l(sub_l, opt_l, x, y)[0], lambda f=step_fn, p=sub, o=s_opt: f(p, o, x, y)[0], 3
        )
        rows.append(
            {
                "arch": arch.short(),
                "supernet_ms": 1e3 * t_sup,
                "standalone_ms": 1e3 * t_std,
                "ratio": t_sup / t_std,
                "cpu_ratio": c_sup / c_std,
                "largest_over_standalone": t_largest / t_std2,
            }
            | (
                {"supernet_tokens_per_s": tokens / t_sup, "standalone_tokens_per_s": tokens / t_std}
                if tokens
                else {}
            )
        )
    for r in rows:
        print(json.dumps(r))
    ratios = [r["ratio"] for r in rows]
    summary = {
        "space": space.name,
        "platform": jax.devices()[0].platform,
        "steps": args.steps,
        "batch": args.batch,
        "devices": len(jax.devices()),
        "median_ratio_supernet_over_standalone": float(np.median(ratios)),
        "ratio_range": [float(min(ratios)), float(max(ratios))],
        "median_cpu_time_ratio_supernet_over_standalone": float(np.median([r["cpu_ratio"] for r in rows])),
        "cpu_time_ratio_range": [
            float(min(r["cpu_ratio"] for r in rows)),
            float(max(r["cpu_ratio"] for r in rows)),
        ],
        "load_average_1min_start_end": [load0, os.getloadavg()[0]],
        "median_ratio_largest_over_standalone(masking_lower_bound)": float(
            np.median([r["largest_over_standalone"] for r in rows])
        ),
        "compiles_after_10pct_steps": compiles_early,
        "compiles_total": compiles,
        "distinct_archs_trained": len(set(archs)),
        "median_train_step_ms_incl_first_compiles": 1e3 * float(np.median(step_times)),
        "train_loop_s": train_s,
    }
    if tokens:
        summary["median_supernet_tokens_per_s"] = float(np.median([r["supernet_tokens_per_s"] for r in rows]))
        summary["median_standalone_tokens_per_s"] = float(
            np.median([r["standalone_tokens_per_s"] for r in rows])
        )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
