"""Stage study: the best flat subnet against the best staged subnet under one latency bound.

    JAX_PLATFORMS=cpu python experiments/stage_study.py                  # the defaults (a quiet machine)
    JAX_PLATFORMS=cpu python experiments/stage_study.py --supernet-steps 150 --batch 32 --budget 8 \
        --seeds 2 --standalone-steps 100 --n-latency 12 --eval-examples 500   # the committed results (~45 min, 2 loaded cores)
    JAX_PLATFORMS=cpu python experiments/stage_study.py --supernet-steps 60 --budget 6 --seeds 1 \
        --standalone-steps 30 --n-latency 6 --workdir /tmp/ss --results /tmp/ss-out   # a smoke run

On the same image task (the shipped MNIST digits; the staged space zero-pads them to 32x32,
LeNet-5's padding), with the same budget, both found by the framework's default search and both
trained stand-alone with seeds:

* flat: ``vit-mnist`` (one token grid and width, 1-6 layers);
* staged: ``vit-resnas-tiny`` (ViT-ResNAS, Liao et al., 2021: three transformer stages with
  residual spatial reduction, 8x8 -> 4x4 -> 2x2 tokens).

Steps, each a unit of the ``--workdir`` that a rerun reuses (so the study resumes):

1. one supernet per space, the same recipe (``experiments/train_vit_mnist.yaml`` at
   ``--supernet-steps`` steps of ``--batch``: AdamW, complexity-aware sampling);
2. latency on this CPU: ``nas latency measure`` (JAX, batch 1, one pinned core) of
   ``--n-latency`` stratified subnets of each space, and ``nas latency fit`` of one device
   ``stage-study-cpu`` holding a predictor per space;
3. the latency bound: the median of all measured subnets of both spaces together (so that
   both spaces have subnets on either side of it);
4. per space ``nas search`` with the supernet and latency evaluators, objectives accuracy
   (max) and latency (min), constraint ``latency_ms[stage-study-cpu] <= bound``, the default
   strategy, ``--budget`` evaluations; its ``best.json`` (the most accurate feasible record);
5. each best subnet measured again directly (``predictors.measure``, the same harness) and
   trained stand-alone from scratch, ``--standalone-steps`` steps of ``--batch``, one run per
   seed, scored on the same ``--eval-examples`` validation digits.

Results: ``--results``/``stage_study.{json,md}``; nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from experiments.fidelity_units import claim, unit, write_atomic  # noqa: E402
from search_spaces import ArchConfig, complexity, load_space  # noqa: E402

SPACES = {"flat": "vit-mnist", "staged": "vit-resnas-tiny"}
DEVICE = "stage-study-cpu"
CONFIG = ROOT / "experiments/train_vit_mnist.yaml"


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--supernet-steps", type=int, default=300)
    ap.add_argument("--standalone-steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--budget", type=int, default=16, help="search evaluations per space")
    ap.add_argument("--n-latency", type=int, default=20, help="subnets measured per space to fit latency")
    ap.add_argument("--seeds", type=int, default=2, help="stand-alone trainings per best subnet")
    ap.add_argument("--eval-examples", type=int, default=2000)
    ap.add_argument("--kinds", default="flat,staged", help="only these sides (a 2nd process may share)")
    ap.add_argument("--workdir", default=str(ROOT / "runs/stage-study"))
    ap.add_argument("--results", default=str(ROOT / "experiments/results"))
    return ap.parse_args(argv)


def _nas(*argv: str, env: dict | None = None) -> None:
    """One CLI command (the user's path), failing loudly."""
    cmd = [sys.executable, "-m", "nas", *map(str, argv)]
    r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")


def _train(kind: str, work: Path, a: argparse.Namespace) -> dict:
    from supernet.config import load_config
    from supernet.train import train_and_evaluate

    over = [f"space={SPACES[kind]}", f"steps={a.supernet_steps}", f"batch_size={a.batch}",
            f"warmup_steps={max(1, a.supernet_steps // 20)}", f"checkpoint_every={max(1, a.supernet_steps // 3)}",
            "eval_max_examples=500"]  # fmt: skip
    out = train_and_evaluate(load_config(CONFIG, over), work / f"supernet-{kind}", quiet=True)
    return {k: float(v) for k, v in out.items() if isinstance(v, (int, float))}


def _latency(work: Path, a: argparse.Namespace) -> dict:
    jsonl = work / "latency.jsonl"
    for name in SPACES.values():
        _nas("latency", "measure", "--space", name, "--device", DEVICE, "--n", a.n_latency, "--out", jsonl,
             "--rounds", 3, "--repeats", 10, "--group", 12, "--seed", 0)  # fmt: skip
    _nas("latency", "fit", "--jsonl", jsonl, "--device", DEVICE, "--root", work / "predictors")
    recs = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    ms = {k: [r["median_ms"] for r in recs if r["space"] == name] for k, name in SPACES.items()}
    return {"bound_ms": float(np.median(ms["flat"] + ms["staged"])), "measured_ms": ms}


def _search(kind: str, work: Path, bound: float, budget: int) -> dict:
    run = work / f"search-{kind}"
    metric = f"latency_ms[{DEVICE}]"
    cfg = {
        "space": SPACES[kind],
        "evaluators": [{"kind": "supernet", "workdir": str(work / f"supernet-{kind}")},
                       {"kind": "latency", "device": DEVICE}],
        "objectives": [{"metric": "accuracy", "goal": "max"}, {"metric": metric, "goal": "min"}],
        "constraints": [f"{metric} <= {bound:.6g}"],
        "budget": budget,
        "seed": 0,
    }  # fmt: skip
    path = work / f"search-{kind}.yaml"
    path.write_text(json.dumps(cfg))
    if not (run / "best.json").is_file():  # a finished search is reused
        _nas(
            "search", path, "--run-dir", run, "--workers", 1, env={"NAS_PREDICTORS": str(work / "predictors")}
        )
    best = json.loads((run / "best.json").read_text())["all constraints"]
    hist = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines() if x.strip()]
    feasible = best is not None
    if best is None:  # no evaluated subnet met the bound: the fastest one, marked as such
        best = min(hist, key=lambda r: r["metrics"][metric])
    return {
        "arch": best["arch"],
        "metrics": best["metrics"],
        "evaluated": len(hist),
        "strategy": _strategy(run),
        "feasible_found": feasible,
    }


def _strategy(run: Path) -> str:
    """The strategy the search ran (the default one, resolved in the run's config.yaml)."""
    return (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("strategy", {}).get("name", "?")


def _measure(kind: str, arch: dict) -> dict:
    from predictors.measure import measure

    space = load_space(SPACES[kind])
    r = measure(space, space.validate(ArchConfig.from_dict(arch)), repeats=30, warmup=5)
    return {"median_ms": r["median_ms"], "iqr_ms": r["iqr_ms"]}


def _standalone(kind: str, arch: dict, seed: int, a: argparse.Namespace) -> dict:
    import jax

    from supernet import any_model, data, standalone
    from supernet.config import load_config
    from supernet.optim import make_optimizer

    space = load_space(SPACES[kind])
    arch_c = space.validate(ArchConfig.from_dict(arch))
    cfg = load_config(CONFIG, [f"steps={a.standalone_steps}", f"batch_size={a.batch}",
                               f"warmup_steps={max(1, a.standalone_steps // 20)}"])  # fmt: skip
    tx, net = make_optimizer(cfg), any_model.build(space, arch_c)
    params = any_model.init(space, arch_c, jax.random.key(seed))["params"]
    state, step = tx.init(params), standalone.train_step(space, arch_c, tx, module=net)
    ds = data.load(space)
    for i in range(a.standalone_steps):
        params, state, _ = step(
            params, state, *data.train_batch(ds, step=i, batch_size=a.batch, seed=seed + 1)
        )
    predict = jax.jit(lambda p, x: net.apply({"params": p}, x).argmax(-1))
    val = data.val_batches(ds, batch_size=250, max_examples=a.eval_examples)
    correct = sum(int((predict(params, x) == y).sum()) for x, y in val)
    return {"accuracy": correct / sum(len(y) for _, y in val)}


def main(argv: Sequence[str] | None = None) -> dict:
    a = _args(argv)
    work, results = Path(a.workdir), Path(a.results)
    config = {k: v for k, v in vars(a).items() if k not in ("workdir", "results", "seeds", "kinds")}
    kinds = [k for k in SPACES if k in a.kinds.split(",")]
    claim(work / "units", config, grows=())
    t0 = time.time()
    trained = {k: unit(work / "units" / f"supernet-{k}.json", lambda k=k: _train(k, work, a)) for k in kinds}
    lat = unit(work / "units/latency.json", lambda: _latency(work, a))
    found = {k: unit(work / "units" / f"search-{k}.json", lambda k=k: _search(k, work, lat["bound_ms"], a.budget))
             for k in kinds}  # fmt: skip
    rows = {}
    for k in kinds:
        arch = found[k]["arch"]
        m = unit(work / "units" / f"measure-{k}.json", lambda k=k, arch=arch: _measure(k, arch))
        accs = [unit(work / "units" / f"standalone-{k}-seed{s}.json",
                     lambda k=k, arch=arch, s=s: _standalone(k, arch, s, a))["accuracy"] for s in range(a.seeds)]  # fmt: skip
        space = load_space(SPACES[k])
        c = complexity(space, [space.validate(ArchConfig.from_dict(arch))])
        rows[k] = {
            "space": SPACES[k],
            "arch": arch,
            "supernet_accuracy": found[k]["metrics"]["accuracy"],
            "predicted_latency_ms": found[k]["metrics"][f"latency_ms[{DEVICE}]"],
            "measured_latency_ms": m["median_ms"],
            "measured_latency_iqr_ms": m["iqr_ms"],
            "meets_bound_measured": bool(m["median_ms"] <= lat["bound_ms"]),
            "params": float(c["params"][0]),
            "mflops": float(c["flops"][0]) / 1e6,
            "standalone_accuracy": accs,
            "standalone_mean": float(np.mean(accs)),
            "standalone_sd": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
            "search_evaluated": found[k]["evaluated"],
            "search_strategy": _strategy(work / f"search-{k}"),
            "search_found_feasible": found[k].get("feasible_found", True),
            "supernet_final": trained[k],
        }
    if len(rows) < len(SPACES):
        return rows
    out = {"config": {**config, "seeds": a.seeds}, "bound_ms": lat["bound_ms"], "latency_pool_ms": lat["measured_ms"],
           "rows": rows, "load_average_end": os.getloadavg()[0], "seconds_this_run": round(time.time() - t0, 1)}  # fmt: skip
    results.mkdir(parents=True, exist_ok=True)
    write_atomic(results / "stage_study.json", out)
    (results / "stage_study.md").write_text(markdown(out))
    print(markdown(out))
    return out


def markdown(r: dict) -> str:
    c = r["config"]
    lines = [
        "# Stage study: best flat vs best staged subnet under one latency bound (issue 33)",
        "",
        "Generated by `experiments/stage_study.py`; do not edit.  MNIST digits (staged: zero-padded to 32x32), "
        f"supernets {c['supernet_steps']} steps of {c['batch']}, default search of {c['budget']} evaluations "
        f"(supernet accuracy + latency predictor of this CPU), bound = median measured latency of "
        f"{2 * c['n_latency']} subnets of both spaces = **{r['bound_ms']:.3f} ms** (JAX, batch 1, one core); "
        f"stand-alone {c['standalone_steps']} steps of {c['batch']}, {c['seeds']} seeds, "
        f"{c['eval_examples']} validation digits.  A shared, busy CPU (load {r['load_average_end']:.1f} at the end): "
        "latencies are noisy.",
        "",
        "| | space | supernet acc | predicted ms | measured ms (IQR) | within bound | params | MFLOPs | "
        "stand-alone acc (mean +- sd over seeds) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, row in r["rows"].items():
        accs = ", ".join(f"{x:.3f}" for x in row["standalone_accuracy"])
        lines.append(
            f"| {k} | `{row['space']}` | {row['supernet_accuracy']:.3f} | {row['predicted_latency_ms']:.3f} | "
            f"{row['measured_latency_ms']:.3f} ({row['measured_latency_iqr_ms']:.3f}) | "
            f"{'yes' if row['meets_bound_measured'] else 'no'} | {row['params']:,.0f} | {row['mflops']:.2f} | "
            f"{row['standalone_mean']:.3f} +- {row['standalone_sd']:.3f} ({accs}) |"
        )
    f, s = r["rows"]["flat"], r["rows"]["staged"]
    diff = s["standalone_mean"] - f["standalone_mean"]
    sd = float(np.hypot(f["standalone_sd"], s["standalone_sd"]))
    lines += [
        "",
        f"Staged minus flat, stand-alone accuracy: {diff:+.3f} (seed spread {sd:.3f}); "
        + (
            "within the seed noise."
            if abs(diff) <= 2 * sd
            else ("staged better." if diff > 0 else "flat better.")
        ),
        "",
        "Architectures:",
        "",
    ]
    for k, row in r["rows"].items():
        note = (
            ""
            if row.get("search_found_feasible", True)
            else " (no evaluated subnet met the bound: the fastest)"
        )
        lines.append(
            f"- {k} ({row['search_strategy']} search, {row['search_evaluated']} evaluations){note}: "
            f"`{json.dumps(row['arch'], sort_keys=True)}`"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
