"""Sampling study: uniform vs sandwich vs complexity-aware vs performance-aware sampling on vit-mnist.

    JAX_PLATFORMS=cpu python experiments/sampling_study.py
    JAX_PLATFORMS=cpu python experiments/sampling_study.py --samplers uniform,sandwich --steps 300

Trains one supernet per sampler of :mod:`supernet.samplers` /
:mod:`supernet.complexity_sampling` and compares them on

* the inherited validation accuracy (1,000 held-out MNIST digits) of the
  smallest subnet, a middle one (median FLOPs of the spread below) and the
  largest subnet, and the mean over ``--subnets`` subnets spread evenly over
  the FLOPs quantiles of a seeded uniform sample;
* the Kendall tau (with its p-value) between the inherited accuracy of those
  subnets and their accuracy after a short stand-alone training from scratch
  (``--standalone-steps`` steps, same batch size, learning rate 1e-3 with 20
  warm-up steps, seed 0; the same reference for every sampler).

Fairness: every supernet gets the same config (steps, batch, learning rate
0.002 with 100 warm-up steps, weight decay, clipping, seed, hence the same
initial weights and the same training batches); only the sampler differs.
Each sampler trains ``--per-step`` subnets per optimizer step (gradients of
all of them are averaged into one update) wherever its algorithm allows:
``uniform`` k = per_step random subnets; ``complexity_aware`` the bin's
smallest + (per_step - 1) in-bin ones (ElasticViT); ``performance_aware``
per_step subnets from the bin's memory bank or fresh in-bin candidates;
``sandwich`` always trains the largest + the smallest + at least one random
subnet (BigNAS), so it gets max(3, per_step) and thus more compute per step.
The number of subnet forward/backward passes per step is read back from the
training logs and reported next to every result, with the training seconds.

Resumable: each sampler trains in ``--workdir/<sampler>-<config hash>``; a
finished or killed run there is reused or resumed from its last Orbax
checkpoint, and stand-alone results are cached in ``--workdir/standalone``.
Every figure is computed here and written to ``--results`` (default
``experiments/results/``): ``sampling_study.json``, ``sampling_study.md`` and
``sampling_study.png`` (see :mod:`experiments.sampling_report`); nothing is
typed by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from experiments import run_cli, sampling_report  # noqa: E402
from search_spaces import ArchConfig, SearchSpace, complexity, load_space  # noqa: E402
from search_spaces.errors import NasError  # noqa: E402
from supernet import checkpoint, data, standalone, tasks  # noqa: E402
from supernet.config import load_config  # noqa: E402
from supernet.evaluation import evaluate  # noqa: E402
from supernet.samplers import SAMPLERS  # noqa: E402
from supernet.train import make_optimizer, train_and_evaluate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def sampler_specs(*, per_step: int = 2, num_bins: int = 8) -> dict[str, dict[str, Any]]:
    """Sampler configs that train ``per_step`` subnets per step where the algorithm allows it."""
    if per_step < 1:
        raise NasError(f"field '--per-step': expected an integer >= 1, got {per_step!r}")
    return {
        "uniform": {"name": "uniform", "options": {"k": per_step}},
        "sandwich": {"name": "sandwich", "options": {"k": max(1, per_step - 2)}},
        "complexity_aware": {
            "name": "complexity_aware",
            "options": {"k": per_step - 1, "num_bins": num_bins, "include_smallest": True},
        },
        "performance_aware": {"name": "performance_aware", "options": {"k": per_step, "num_bins": num_bins}},
    }


def parse_samplers(text: str) -> list[str]:
    """``'uniform,sandwich'`` -> a checked list of sampler names."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in SAMPLERS]
    if bad or not names:
        raise NasError(f"field '--samplers' is {text!r}; choose a comma list of {list(SAMPLERS)}")
    return list(dict.fromkeys(names))


def pick_subnets(space: SearchSpace, n: int, seed: int = 0) -> list[ArchConfig]:
    """``n`` subnets spread evenly over the FLOPs quantiles of a seeded uniform sample."""
    pool = space.sample_many(seed, 2000)
    flops = complexity(space, pool)["flops"]
    order = np.argsort(flops, kind="stable")
    idx = order[np.linspace(0, len(order) - 1, n).round().astype(int)]
    return [pool[i] for i in idx]


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def train_standalone(
    space: SearchSpace, arch: ArchConfig, *, steps: int, batch: int, seed: int, val
) -> float:
    """Validation accuracy of ``arch`` trained from scratch for ``steps`` steps."""
    m = standalone.build(space, arch)
    cfg = load_config(None, [f"steps={steps}", f"batch_size={batch}", "warmup_steps=20"])
    tx = make_optimizer(cfg)
    params = standalone.init(space, arch, jax.random.key(seed))["params"]
    state = tx.init(params)
    step = standalone.train_step(space, arch, tx)
    ds = data.load(space)
    for i in range(steps):
        params, state, _ = step(params, state, *data.train_batch(ds, step=i, batch_size=batch, seed=seed + 1))
    predict = jax.jit(lambda p, x: m.apply({"params": p}, x).argmax(-1))
    correct = sum(int((predict(params, x) == y).sum()) for x, y in val)
    return correct / sum(len(y) for _, y in val)


def cached_standalone(space, arch, *, steps: int, batch: int, seed: int, val, cache: Path) -> dict:
    """:func:`train_standalone` with its result cached in ``cache`` (a killed study does not redo it)."""
    key = {"space": space.to_dict(), "arch": arch.to_dict(), "steps": steps, "batch": batch, "seed": seed}
    path = cache / f"{_digest(key)}.json"
    if path.exists():
        return json.loads(path.read_text())
    t = time.time()
    acc = train_standalone(space, arch, steps=steps, batch=batch, seed=seed, val=val)
    out = {"accuracy": acc, "train_s": time.time() - t}
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def passes_per_step(workdir: Path) -> list[int]:
    """Subnet forward/backward passes of each logged step, read from the run's metrics.jsonl."""
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [len(r["losses"]) for r in map(json.loads, filter(None, lines)) if "losses" in r]


def train_sampler(cfg: dict, workdir: Path) -> dict:
    """Trains (or resumes, or reuses) one supernet; returns its timing record."""
    timing_path = workdir / "study_timing.json"
    if timing_path.exists():
        return {**json.loads(timing_path.read_text()), "reused": True}
    start = 0
    if (workdir / checkpoint.CKPT_DIR).is_dir():
        mngr = checkpoint.manager(workdir)
        start = mngr.latest_step() or 0
        mngr.close()
    t = time.time()
    train_and_evaluate(cfg, workdir, quiet=True)
    timing = {"train_s": time.time() - t, "resumed_from_step": start}
    timing_path.write_text(json.dumps(timing))
    return {**timing, "reused": False}


def _tau(inherited: Sequence[float], alone: Sequence[float]) -> tuple[float | None, float | None]:
    tau, p = kendalltau(inherited, alone)
    return (None, None) if math.isnan(tau) else (float(tau), float(p))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samplers", default=",".join(SAMPLERS), help="comma list (default: all four)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--per-step", type=int, default=2, help="subnets per step where the sampler allows")
    ap.add_argument("--num-bins", type=int, default=8, help="FLOPs bins of the ElasticViT samplers")
    ap.add_argument("--subnets", type=int, default=10, help="subnets spread over the FLOPs range")
    ap.add_argument("--standalone-steps", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--space",
        default="vit-mnist",
        help="a built-in space or a space YAML file whose task reports accuracy",
    )
    ap.add_argument("--workdir", default="/tmp/nas-sampling-study4")
    ap.add_argument("--results", default=str(RESULTS), help="folder for the json, md and png")
    return ap


def run(args: argparse.Namespace) -> dict:
    """The whole study; returns the report (also written to ``args.results``)."""
    t0, load0 = time.time(), os.getloadavg()
    names = parse_samplers(args.samplers)
    specs = sampler_specs(per_step=args.per_step, num_bins=args.num_bins)
    for field in ("steps", "batch", "subnets", "standalone_steps"):
        if getattr(args, field) < 1:
            raise NasError(f"field '--{field.replace('_', '-')}': must be >= 1, got {getattr(args, field)}")
    space = load_space(args.space)
    if "accuracy" not in tasks.get(space).metrics(0.0, 0.0):  # ask the task, never its kind's name
        raise NasError(
            f"field '--space': the study needs a space whose task reports accuracy, got {space.name!r}"
        )
    val = data.val_batches(data.load(space), batch_size=250)
    subnets = pick_subnets(space, args.subnets, seed=args.seed)
    named = {"smallest": space.smallest(), "middle": subnets[len(subnets) // 2], "largest": space.largest()}
    archs = list(named.values()) + subnets
    base = [
        f"space={args.space}",
        f"seed={args.seed}",
        f"steps={args.steps}",
        f"batch_size={args.batch}",
        "learning_rate=0.002",
        f"checkpoint_every={min(100, args.steps)}",
        "log_every=1",
    ]
    report: dict = {"config": vars(args), "samplers": {}}
    for label in names:
        cfg = load_config(None, base)
        cfg["sampler"] = specs[label]
        workdir = Path(args.workdir) / f"{label}-{_digest(cfg)}"
        timing = train_sampler(cfg, workdir)
        _, params, _ = checkpoint.load(workdir)
        inherited = [r["accuracy"] for r in evaluate(space, params, archs, val)]
        passes = passes_per_step(workdir)
        report["samplers"][label] = {
            "sampler": specs[label],
            "passes_per_step": sorted(set(passes)),
            "total_passes": int(sum(passes)),
            **timing,
            "named": dict(zip(named, inherited[: len(named)], strict=True)),
            "subnet_accuracy": inherited[len(named) :],
            "mean_accuracy": float(np.mean(inherited[len(named) :])),
            "workdir": str(workdir),
        }
        print(label, json.dumps(report["samplers"][label]["named"]), flush=True)

    t = time.time()
    alone = [
        cached_standalone(
            space,
            a,
            steps=args.standalone_steps,
            batch=args.batch,
            seed=args.seed,
            val=val,
            cache=Path(args.workdir) / "standalone",
        )
        for a in subnets
    ]
    report["standalone"] = {
        "accuracy": [r["accuracy"] for r in alone],
        "train_s": float(sum(r["train_s"] for r in alone)),
        "wall_s_this_run": time.time() - t,
    }
    for r in report["samplers"].values():
        r["kendall_tau"], r["kendall_p"] = _tau(r["subnet_accuracy"], report["standalone"]["accuracy"])
    flops = complexity(space, archs)["flops"] / 1e6
    report["named_archs"] = {k: a.to_dict() for k, a in named.items()}
    report["named_mflops"] = flops[: len(named)].tolist()
    report["subnets"] = [a.to_dict() for a in subnets]
    report["subnet_short"] = [a.short() for a in subnets]
    report["subnet_mflops"] = flops[len(named) :].tolist()
    report["total_s"] = time.time() - t0
    report["loadavg_1min"] = {"start": load0[0], "end": os.getloadavg()[0]}
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sampling_study.json").write_text(json.dumps(report, indent=1))
    md = sampling_report.markdown(report)
    (out / "sampling_study.md").write_text(md)
    sampling_report.plot(report, out / "sampling_study.png")
    print(md)
    return report


def main(argv: Sequence[str] | None = None) -> dict:
    return run_cli(build_parser, run, argv)


if __name__ == "__main__":
    main()
