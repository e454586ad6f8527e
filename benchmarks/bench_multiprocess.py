"""Steps/s of the supernet step in 1 process x 2 CPU devices against 2 processes x 1 device.

    python -m benchmarks.bench_multiprocess [--space lm-shakespeare] [--batch 16] [--steps 20] [--repeats 2]

Both layouts run the trainer's own step (:class:`supernet.train.StepFns`, the largest subnet,
real batches of the space's built-in data, one ``data`` mesh over all devices); the second
joins two processes with ``jax.distributed`` over Gloo on 127.0.0.1
(:func:`supernet.distributed.initialize`), each reading its half of every batch.  The time of
``--steps`` steps after 3 warm-up steps is taken in process 0; layouts alternate ``--repeats``
times and the ratio of medians is printed (one JSON line per run, then a summary).  The cost
of the 2-process layout over the 1-process one is the collective going over Gloo/TCP between
processes instead of XLA's in-process all-reduce.  On a shared machine other processes load
the cores: read the ratio of runs made side by side, and the load averages printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(args: argparse.Namespace) -> None:
    if os.environ.get("NAS_COORDINATOR"):
        from supernet import distributed

        distributed.initialize()
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from search_spaces import load_space
    from supernet import data, distributed, model
    from supernet.optim import make_optimizer
    from supernet.train import StepFns

    space = load_space(args.space)
    cfg = {"learning_rate": 1e-3, "warmup_steps": 2, "steps": 1000, "weight_decay": 0.05, "clip_norm": 1.0}
    mesh = Mesh(np.asarray(jax.devices()), ("data",))
    rep, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    rows = distributed.local_rows(sharded, args.batch)
    tx = make_optimizer(cfg)
    fns = StepFns(model.geometry(space), tx)
    params = jax.device_put(model.init(space, jax.random.key(0)), rep)
    opt_state = jax.jit(tx.init, out_shardings=rep)(params)
    ds = data.load(space)
    arch = space.largest()

    def step(i, params, opt_state):
        xy = data.train_batch(ds, step=i, batch_size=args.batch, seed=0, rows=rows)
        x, y = distributed.global_batch(xy, sharded, args.batch)
        params, opt_state, losses = fns.step(
            params, opt_state, x, y, [arch], distill=False, put=lambda c: jax.device_put(c, rep)
        )
        return params, opt_state

    for i in range(3):
        params, opt_state = step(i, params, opt_state)
    jax.block_until_ready(params)
    t, c = time.perf_counter(), time.process_time()
    for i in range(3, 3 + args.steps):
        params, opt_state = step(i, params, opt_state)
    jax.block_until_ready(params)
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    rec = {"processes": jax.process_count(), "devices": len(jax.devices()), "steps_per_s": args.steps / dt}
    # CPU seconds this process (all its threads) spent per step: less sensitive to other load than wall
    print(json.dumps(rec | {"process": jax.process_index(), "cpu_s_per_step": cpu / args.steps}), flush=True)


def _run(layout: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, "-m", "benchmarks.bench_multiprocess", "--child", "--space", args.space]
    cmd += ["--batch", str(args.batch), "--steps", str(args.steps)]
    if layout == "1x2":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)]
    else:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs = [
            subprocess.Popen(
                cmd,
                env=dict(
                    env, NAS_COORDINATOR=f"127.0.0.1:{port}", NAS_NUM_PROCESSES="2", NAS_PROCESS_ID=str(i)
                ),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for i in range(2)
        ]
    load = os.getloadavg()[0]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"{layout}: a process failed ({[p.returncode for p in procs]})")
    recs = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    rec = {k: v for k, v in recs[0].items() if k != "process"}
    rec["cpu_s_per_step"] = sum(r["cpu_s_per_step"] for r in recs)  # all processes together
    rec |= {"layout": layout, "load_average_1min_start_end": [load, os.getloadavg()[0]]}
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="lm-shakespeare")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    load0 = os.getloadavg()[0]
    runs: dict[str, list[float]] = {"1x2": [], "2x1": []}
    cpus: dict[str, list[float]] = {"1x2": [], "2x1": []}
    for _ in range(args.repeats):
        for layout in runs:
            rec = _run(layout, args)
            runs[layout].append(rec["steps_per_s"])
            cpus[layout].append(rec["cpu_s_per_step"])
            print(json.dumps(rec), flush=True)
    one, two = statistics.median(runs["1x2"]), statistics.median(runs["2x1"])
    c1, c2 = statistics.median(cpus["1x2"]), statistics.median(cpus["2x1"])
    summary = {
        "space": args.space,
        "batch": args.batch,
        "steps": args.steps,
        "repeats": args.repeats,
        "steps_per_s_1proc_x_2dev": one,
        "steps_per_s_2proc_x_1dev": two,
        "steps_per_s_min_max": {k: [min(v), max(v)] for k, v in runs.items()},
        "ratio_2proc_over_1proc": two / one,
        "pair_ratios": [b / a for a, b in zip(runs["1x2"], runs["2x1"], strict=True)],
        "cpu_s_per_step_1proc_x_2dev": c1,
        "cpu_s_per_step_2proc_x_1dev": c2,
        "cpu_s_per_step_min_max": {k: [min(v), max(v)] for k, v in cpus.items()},
        "cpu_ratio_2proc_over_1proc": c2 / c1,
        "load_average_1min_start_end": [load0, os.getloadavg()[0]],
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
