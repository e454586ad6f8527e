"""Mixer study: each token mixer's latency on this CPU over sequence length and width, beside its
FLOPs, and the latency predictor's error per mixer on held-out architectures.

    JAX_PLATFORMS=cpu python experiments/mixer_study.py [--lengths 64,128,256,512,1024,2048]
        [--widths 64,128] [--repeats 7] [--per-mixer 4] [--out experiments/results/mixer_study]

Part 1, a mixer alone.  For every mixer of the ``mixers-demo`` space, embedding width ``E``
(``E / 32`` heads of width 32) and sequence length ``T``: the mixer's stand-alone forward
(``supernet/mixers/<name>.py``, the code the supernet and the exported model run) on a
(1, T, E) input, compiled once and timed by the project's latency protocol
(:func:`predictors.measure.time_callable`: pinned to one core, warm-up, ``--repeats`` blocks of
back-to-back calls of about 2 ms each), reported as the median and the interquartile range over
the blocks; beside the complexity model's MACs (projections plus mixing, FLOPs = 2 MACs) and
params of the same layer (``search_spaces/mixers/<name>.py``, the formulas
``search_spaces.complexity`` sums), and the params counted in the built module.

Part 2, the latency predictor.  ``--per-mixer`` random architectures of a masked-LM space whose
layers all use one mixer (so an architecture belongs to one mixer), for every mixer, each whole
forward compiled by :func:`predictors.measure.prepare` (what ``nas latency measure`` times) and
timed as above; the project's predictor choice (:func:`predictors.fitting.choose` over the
architecture candidates, 5-fold) on the latency features (:func:`predictors.features.features`);
its out-of-fold predictions (each architecture predicted by a model fitted without it) scored
per mixer, on the CPU-time and on the wall-clock latencies.

Every timing is followed by a CPU-time pass over the same number of blocks (pinned to the same
core): CPU time of the timed process moves far less with other processes' load than wall time.
Every measurement is written to ``<out>.json`` as it is taken; a rerun with the same settings
skips those already there (resumable).  ``<out>.md`` is generated from it.  On a shared machine
the wall-clock figures move with other processes' load (the load average is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

from search_spaces import load_space, mixers, space_from_dict  # noqa: E402

HEAD_DIM = 32
OUT = ROOT / "experiments/results/mixer_study"


def mixer_choices() -> list[str]:
    """The mixers of the mixed demo space (every built-in mixer, ``dsc`` at kernels 5 and 9)."""
    return list(load_space("mixers-demo").layer_dims["mixer"])


def layer_complexity(choice: str, *, E: int, T: int) -> dict[str, float]:
    """The complexity model's MACs and params of one layer's mixer (batch 1)."""
    c = mixers.get(choice)
    H = E // HEAD_DIM
    d = mixers.Dims(B=1.0, T=float(T), E=np.array([float(E)]), H=np.array([float(H)]), hd=float(HEAD_DIM),
                    K=np.array([float(H)]), opt=c.opt)  # fmt: skip
    macs = float((c.spec.proj_macs(d) + c.spec.mix_macs(d))[0])
    return {"macs": macs, "flops": 2 * macs, "params_formula": float(c.spec.params(d)[0])}


def time_mixer(choice: str, *, E: int, T: int, repeats: int) -> dict[str, Any]:
    """Median and IQR (ms) of the mixer's stand-alone forward on a (1, T, E) input."""
    import flax.linen as nn
    import jax

    from supernet import mixers as mixer_ops
    from supernet.standalone import random_variables

    c = mixers.get(choice)
    op = mixer_ops.ops(c)

    class Mixer(nn.Module):
        @nn.compact
        def __call__(self, h):
            return op.forward(
                mixer_ops.Params(self), h, None, H=E // HEAD_DIM, hd=HEAD_DIM, causal=False, opt=c.opt
            )

    m = Mixer()
    x = jax.numpy.asarray(np.random.default_rng(0).standard_normal((1, T, E)).astype(np.float32))
    variables = random_variables(m, x)
    fwd = jax.jit(m.apply).lower(variables, x).compile()

    def call() -> None:
        fwd(variables, x).block_until_ready()

    n_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(variables))
    return timed(call, repeats=repeats) | {"params_built": n_params}


def timed(call, *, repeats: int) -> dict[str, Any]:
    """Wall-clock median and IQR (ms per call) by the project's protocol
    (:func:`predictors.measure.time_callable`), then the same number of blocks timed in CPU time of
    this process (pinned to the same core), which other processes' load moves far less."""
    import time

    from predictors.measure import default_core, pinned, summarize, time_callable

    core = default_core()
    times, k = time_callable(call, repeats=repeats, warmup=3, core=core)
    wall = summarize(times)
    cpu = np.empty(repeats)
    with pinned(core):
        for i in range(repeats):
            t0 = time.process_time()
            for _ in range(k):
                call()
            cpu[i] = (time.process_time() - t0) * 1e3 / k
    c = summarize(cpu)
    return {"median_ms": wall["median_ms"], "iqr_ms": wall["iqr_ms"], "cpu_median_ms": c["median_ms"],
            "cpu_iqr_ms": c["iqr_ms"], "calls_per_block": k}  # fmt: skip


def study_space(seq_len: int, choices: list[str]):
    """A masked-LM encoder space of every mixer (vocabulary 512 so the output layer does not hide them)."""
    return space_from_dict(
        {
            "name": "mixer-study",
            "max_depth": 3,
            "global": {"embed_dim": [64, 128], "depth": [1, 2, 3]},
            "layer": {"num_heads": [2], "mlp_dim": [128, 256], "num_ffn": [1, 2], "mixer": choices},
            "task": {"kind": "masked_lm", "dataset": "shakespeare", "tokenizer": "bpe", "vocab_size": 512,
                     "seq_len": seq_len, "head_dim": HEAD_DIM, "causal": False},
        },
        source="mixer study space",
    )  # fmt: skip


def one_mixer_archs(space, choice: str, n: int, seed: int) -> list:
    """``n`` distinct seeded samples of ``space`` with every layer's mixer set to ``choice``."""
    out, i = [], 0
    while len(out) < n:
        d = space.sample(seed + 7919 * i).to_dict()
        i += 1
        d["mixer"] = [choice] * len(d["mixer"])
        a = space.parse(d)
        if a not in out:
            out.append(a)
    return out


def _save(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def run(args: argparse.Namespace) -> dict:
    from predictors.measure import prepare

    out = Path(args.out).with_suffix(".json")
    settings = {"lengths": args.lengths, "widths": args.widths, "repeats": args.repeats, "seq_len": args.seq_len,
                "head_dim": HEAD_DIM, "mixers": args.mixers or mixer_choices()}  # fmt: skip
    data = json.loads(out.read_text()) if out.exists() else {}
    if data.get("settings") != settings:  # other measurements: start again (the architecture count may grow)
        data = {"settings": settings, "layer": [], "archs": []}
    data["per_mixer"] = args.per_mixer
    data.setdefault("load_average_1min", []).append(os.getloadavg()[0])
    done = {(r["mixer"], r["E"], r["T"]) for r in data["layer"]}
    for E in args.widths:
        for T in args.lengths:
            for choice in settings["mixers"]:
                if (choice, E, T) in done:
                    continue
                row = {"mixer": choice, "E": E, "T": T} | layer_complexity(choice, E=E, T=T)
                row |= time_mixer(choice, E=E, T=T, repeats=args.repeats)
                data["layer"].append(row)
                _save(out, data)
                print(json.dumps(row), flush=True)
    space = study_space(args.seq_len, settings["mixers"])
    done_archs, wanted = {r["arch_json"] for r in data["archs"]}, set()
    for i, choice in enumerate(settings["mixers"]):
        for arch in one_mixer_archs(space, choice, args.per_mixer, seed=1000 * i):
            wanted.add(arch.to_json())
            if arch.to_json() in done_archs:
                continue
            call, _ = prepare(space, arch, batch_size=1, seq_len=args.seq_len)
            m = timed(call, repeats=args.repeats)
            data["archs"].append({"mixer": choice, "arch_json": arch.to_json()} | m)
            _save(out, data)
            print(choice, arch.short(), f"{m['median_ms']:.3f} ms", flush=True)
    data["load_average_1min"].append(os.getloadavg()[0])
    rows = [r for r in data["archs"] if r["arch_json"] in wanted]
    if rows:  # --per-mixer 0: the layer timings only
        data["predictor"] = {k: predictor_errors(space, rows, args.seq_len, label=k)
                             for k in ("cpu_median_ms", "median_ms")}  # fmt: skip
    else:
        data.pop("predictor", None)
    _save(out, data)
    return data


def predictor_errors(space, rows: list[dict], seq_len: int, *, label: str) -> dict:
    """The chosen predictor's 5-fold out-of-fold error on the ``label`` latencies, over all
    architectures and per mixer."""
    from predictors.features import features
    from predictors.fitting import ARCH_CANDIDATES, choose
    from predictors.metrics import evaluate
    from search_spaces import ArchConfig

    archs = [ArchConfig.from_json(r["arch_json"]) for r in rows]
    X = features(space, archs, seq_len=seq_len)
    y = np.array([r[label] for r in rows])
    iqr = label.replace("median", "iqr")
    best, cv, oof = choose(X, y, ARCH_CANDIDATES, k=5, seed=0)
    pred = oof[best]
    by = {}
    for choice in dict.fromkeys(r["mixer"] for r in rows):
        idx = np.array([r["mixer"] == choice for r in rows])
        e = evaluate(y[idx], pred[idx])
        by[choice] = {k: e[k] for k in ("n", "mape_pct", "within10_pct")} | {
            "median_measured_ms": float(np.median(y[idx])),
            "median_noise_pct": float(
                np.median([100 * r[iqr] / r[label] for r, j in zip(rows, idx, strict=True) if j])
            ),
        }
    overall = evaluate(y, pred)
    return {"model": best, "folds": 5, "overall": {k: overall[k] for k in ("n", "mape_pct", "within10_pct", "kendall_tau")},
            "per_mixer": by}  # fmt: skip


def report(data: dict, path: Path) -> None:
    s = data["settings"]
    lines = [
        "# Mixer study (generated by experiments/mixer_study.py; do not edit)",
        "",
        f"This CPU, batch 1, heads of width {s['head_dim']} (E / {s['head_dim']} heads), one mixer alone, "
        f"median over {s['repeats']} timed blocks (IQR in brackets, ms); MFLOPs from the complexity model. "
        f"Shared machine, load average (1 min) at the runs' starts and end: "
        f"{', '.join(f'{x:.1f}' for x in data['load_average_1min'])}.",
        "",
    ]
    by = {(r["mixer"], r["E"], r["T"]): r for r in data["layer"]}
    head = [
        "| mixer | " + " | ".join(f"T={T}" for T in s["lengths"]) + " |",
        "|---|" + "---|" * len(s["lengths"]),
    ]
    what = {"cpu_median_ms": "CPU-time ms per call [IQR]", "median_ms": "wall-clock ms per call [IQR]",
            "flops": "MFLOPs (complexity model)"}  # fmt: skip
    for E in s["widths"]:
        for key, title in what.items():
            lines += [f"## E = {E}: {title}", "", *head]
            for m in s["mixers"]:
                cells = []
                for T in s["lengths"]:
                    r = by.get((m, E, T))
                    if r is None:
                        cells.append("-")
                    elif key == "flops":
                        cells.append(f"{r['flops'] / 1e6:.3g}")
                    else:
                        cells.append(f"{r[key]:.3g} [{r[key.replace('median', 'iqr')]:.2g}]")
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
        T = max(s["lengths"])
        ranked = sorted((by[(m, E, T)]["cpu_median_ms"], m) for m in s["mixers"] if (m, E, T) in by)
        if ranked:
            lines += [f"Fastest at E={E}, T={T} (CPU time): " + ", ".join(f"{m} {ms:.3g} ms" for ms, m in ranked[:3])
                      + f"; slowest: {ranked[-1][1]} {ranked[-1][0]:.3g} ms.", ""]  # fmt: skip
    for label, p in data.get("predictor", {}).items():
        o = p["overall"]
        lines += [
            f"## Latency predictor on {'CPU-time' if label.startswith('cpu') else 'wall-clock'} latencies: "
            f"held-out error per mixer",
            "",
            f"{data['per_mixer']} one-mixer architectures per mixer (masked-LM encoder at T={s['seq_len']}, whole "
            f"forward); chosen model `{p['model']}`, {p['folds']}-fold out-of-fold predictions: overall MAPE "
            f"{o['mape_pct']:.1f} %, {o['within10_pct']:.0f} % within +-10 %, Kendall tau {o['kendall_tau']:.2f} "
            f"(n = {o['n']}).",
            "",
            "| mixer | n | measured median ms | timing noise (IQR / median) | MAPE % | within +-10 % |",
            "|---|---|---|---|---|---|",
        ]
        for m, r in p["per_mixer"].items():
            lines.append(f"| {m} | {r['n']} | {r['median_measured_ms']:.3g} | {r['median_noise_pct']:.1f} % | "
                         f"{r['mape_pct']:.1f} | {r['within10_pct']:.0f} % |")  # fmt: skip
        lines.append("")
    path.with_suffix(".md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    ap.add_argument("--lengths", type=ints, default=[64, 128, 256, 512, 1024, 2048])
    ap.add_argument("--widths", type=ints, default=[64, 128])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--per-mixer", type=int, default=4)
    ap.add_argument(
        "--seq-len", type=int, default=256, help="sequence length of the predictor's architectures"
    )
    ap.add_argument("--mixers", type=lambda x: x.split(","), default=None, help="default: mixers-demo's")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    data = run(args)
    report(data, Path(args.out))
    print(Path(args.out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
