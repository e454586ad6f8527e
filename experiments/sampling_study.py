"""Quality study on vit-mnist: uniform vs complexity-aware sampling at the same step budget.

    JAX_PLATFORMS=cpu python experiments/sampling_study.py [--steps 400] [--standalone-steps 150]

Trains two supernets with the same config, steps and number of subnets per
step (2), differing only in the sampler: ``uniform`` (k=2) and ElasticViT's
``complexity_aware`` (the bin's smallest + 1 random in-bin subnet).  Then:

* inherited validation accuracy of the smallest, a middle (median FLOPs of a
  seeded sample) and the largest subnet of each supernet;
* Kendall tau between inherited accuracy and the accuracy of a short
  stand-alone training from scratch, over ``--subnets`` subnets spread over
  the FLOPs range.

Every figure is computed here and written to ``experiments/results/``
(``sampling_study.json`` and ``sampling_study.md``); nothing is typed by hand.
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
import optax  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from search_spaces import complexity, load_space  # noqa: E402
from supernet import checkpoint, data, standalone  # noqa: E402
from supernet.config import load_config  # noqa: E402
from supernet.evaluation import evaluate  # noqa: E402
from supernet.train import make_optimizer, train_and_evaluate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLERS = {
    "uniform": {"name": "uniform", "options": {"k": 2}},
    "complexity_aware": {"name": "complexity_aware", "options": {"k": 1, "num_bins": 8}},
}


def pick_subnets(space, n: int, seed: int = 0):
    """``n`` subnets spread evenly over the FLOPs quantiles of a seeded uniform sample."""
    pool = space.sample_many(seed, 2000)
    flops = complexity(space, pool)["flops"]
    order = np.argsort(flops, kind="stable")
    idx = order[np.linspace(0, len(order) - 1, n).round().astype(int)]
    return [pool[i] for i in idx]


def train_standalone(space, arch, *, steps: int, batch: int, seed: int, val) -> float:
    """Validation accuracy of ``arch`` trained from scratch for ``steps`` steps."""
    m = standalone.build(space, arch)
    cfg = load_config(None, [f"steps={steps}", f"batch_size={batch}", "warmup_steps=20"])
    tx = make_optimizer(cfg)
    params = standalone.init(space, arch, jax.random.key(seed))["params"]
    state = tx.init(params)

    def loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(m.apply({"params": p}, x), y).mean()

    @jax.jit
    def step(p, s, x, y):
        g = jax.grad(loss)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    ds = data.mnist()
    for i in range(steps):
        params, state = step(params, state, *data.train_batch(ds, step=i, batch_size=batch, seed=seed + 1))
    predict = jax.jit(lambda p, x: m.apply({"params": p}, x).argmax(-1))
    correct = sum(int((predict(params, x) == y).sum()) for x, y in val)
    return correct / sum(len(y) for _, y in val)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--subnets", type=int, default=10)
    ap.add_argument("--standalone-steps", type=int, default=150)
    ap.add_argument("--workdir", default="/tmp/nas-sampling-study")
    args = ap.parse_args()
    t0 = time.time()
    space = load_space("vit-mnist")
    val = data.val_batches(data.mnist(), batch_size=250)
    subnets = pick_subnets(space, args.subnets)
    named = {"smallest": space.smallest(), "middle": subnets[len(subnets) // 2], "largest": space.largest()}

    report: dict = {"config": vars(args), "samplers": {}}
    for label, sampler in SAMPLERS.items():
        cfg = load_config(
            None,
            [
                f"steps={args.steps}",
                f"batch_size={args.batch}",
                "learning_rate=0.002",
                f"checkpoint_every={args.steps}",
                f"log_every={max(1, args.steps // 10)}",
            ],
        )
        cfg["sampler"] = sampler
        workdir = Path(args.workdir) / label
        t = time.time()
        train_and_evaluate(cfg, workdir, quiet=True)
        _, params, _ = checkpoint.load(workdir)
        inherited = evaluate(space, params, list(named.values()) + subnets, val)
        report["samplers"][label] = {
            "train_s": time.time() - t,
            "named": {k: inherited[i]["accuracy"] for i, k in enumerate(named)},
            "subnet_accuracy": [r["accuracy"] for r in inherited[len(named) :]],
        }
        print(label, json.dumps(report["samplers"][label]["named"]), flush=True)

    t = time.time()
    alone = [
        train_standalone(space, a, steps=args.standalone_steps, batch=args.batch, seed=0, val=val)
        for a in subnets
    ]
    report["standalone"] = {"accuracy": alone, "train_s": time.time() - t}
    for r in report["samplers"].values():
        tau, p = kendalltau(r["subnet_accuracy"], alone)
        r["kendall_tau"], r["kendall_p"] = float(tau), float(p)
    report["subnets"] = [a.to_dict() for a in subnets]
    report["subnet_mflops"] = (complexity(space, subnets)["flops"] / 1e6).tolist()
    report["named_archs"] = {k: a.to_dict() for k, a in named.items()}
    report["total_s"] = time.time() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sampling_study.json").write_text(json.dumps(report, indent=1))
    lines = [
        "# Sampling study: vit-mnist, uniform vs complexity-aware",
        "",
        f"Generated by `experiments/sampling_study.py` ({args.steps} supernet steps of batch {args.batch}, "
        f"2 subnets per step; {args.subnets} subnets trained stand-alone for {args.standalone_steps} steps; "
        f"{report['total_s'] / 60:.1f} min in all).",
        "",
        "| sampler | smallest acc | middle acc | largest acc | Kendall tau (inherited vs stand-alone) |",
        "|---|---|---|---|---|",
    ]
    for label, r in report["samplers"].items():
        n = r["named"]
        lines.append(
            f"| {label} | {n['smallest']:.3f} | {n['middle']:.3f} | {n['largest']:.3f} | "
            f"{r['kendall_tau']:.3f} (p={r['kendall_p']:.3f}) |"
        )
    lines += [
        "",
        "| subnet | MFLOPs | stand-alone acc | " + " | ".join(report["samplers"]) + " |",
        "|---|---|---|" + "---|" * len(report["samplers"]),
    ]
    for i, a in enumerate(subnets):
        accs = " | ".join(f"{r['subnet_accuracy'][i]:.3f}" for r in report["samplers"].values())
        lines.append(f"| {a.short()} | {report['subnet_mflops'][i]:.2f} | {alone[i]:.3f} | {accs} |")
    (RESULTS / "sampling_study.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
