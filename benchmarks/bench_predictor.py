"""Latency predictor benchmark: query throughput, held-out accuracy, and the HAT data.

    JAX_PLATFORMS=cpu python benchmarks/bench_predictor.py              # all three parts
    JAX_PLATFORMS=cpu python benchmarks/bench_predictor.py --remeasure 30

1. Throughput: ``predict_batch`` of the shipped ``cpu-host`` predictor on 100k
   architectures (ArchBatch), next to the plain FLOPs count
   (``search_spaces.complexity``) of the same batch timed in the same run.
2. Accuracy on architectures never seen in fitting: the held-out scores stored
   with the shipped predictor and, with ``--remeasure K``, a fresh measurement of
   K held-out architectures now, beside the campaign's reference architectures:
   how often two measurements of the same architecture agree within +-10 % (the
   noise floor of this machine) next to how often the predictor agrees with the
   new measurement, raw and put on the campaign's speed scale by the references
   (:mod:`predictors.drift`).
3. HAT (Wang et al., ACL 2020) latency files: each candidate model fitted on the
   README's split (seed-0 permutation, 1,800 train / 200 test), within +-10 %
   against both README baselines; the model kept is chosen by (repeated) 5-fold
   cross-validation on the train rows (never by the test rows), and its 90 %
   conformal interval's coverage is printed (held-out rows and nested CV).
   Then, per file, the default (the kept model) beside linear regression and
   HAT's own MLP recipe (:mod:`predictors.models.hat_mlp`) measured in the same
   run: held-out % within +-10 % and 5-fold CV on the train rows, mean ± sd over
   ``--repeats`` fold splits (the MLP over ``--mlp-repeats``, default none: one
   fit takes ~2.5 min on the 2-core VM, so by default it is scored on the
   held-out rows only).  ``--hat-only`` runs just this part (~50 min at load 15-20).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictors import hat as hat_data  # noqa: E402
from predictors import load  # noqa: E402
from predictors import models as pm  # noqa: E402
from predictors.fitting import DEFAULT_CANDIDATES, fit_and_score  # noqa: E402
from predictors.metrics import evaluate  # noqa: E402
from search_spaces import ArchConfig, complexity, sample_batch  # noqa: E402

HAT = hat_data.default_dir()


def best_time(f, reps: int = 5) -> float:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out)


def throughput(device: str, n: int) -> None:
    print(f"== query throughput, {n:,d} architectures per call (best of 5) ==")
    for space in load(device).spaces:
        p = load(device, space=space)
        b = sample_batch(p.space, 0, n)
        t_pred = best_time(lambda p=p, b=b: p.predict_batch(b))
        t_flops = best_time(lambda p=p, b=b: complexity(p.space, b)["flops"])
        print(
            f"{space:20s} predictor ({p.parts[space].model}) {n / t_pred:12,.0f} archs/s   "
            f"FLOPs count {n / t_flops:12,.0f} archs/s   ratio {t_flops / t_pred:.2f}x"
        )


def heldout(device: str, remeasure: int) -> None:
    from predictors.drift import corrected_latency, measure_on_scale, reference_levels
    from predictors.interleaved import measure_group
    from predictors.tabular import split

    print("== accuracy on held-out architectures (never seen in fitting) ==")
    data = ROOT / "predictors" / "data" / device
    for space in load(device).spaces:
        p = load(device, space=space)
        meta = p.parts[space].meta
        m = meta["metrics"]
        print(
            f"{space:20s} stored: n={m['n']} within10 {m['within10_pct']:.1f}%  within5 {m['within5_pct']:.1f}%  "
            f"MAPE {m['mape_pct']:.1f}%  tau {m['kendall_tau']:.3f}  (model {meta['model']})"
        )
        iv = meta.get("interval")
        if iv:
            print(
                f"{'':20s} 90 % interval covers {iv['heldout_coverage_pct']:.1f} % of {iv['heldout_n']} held-out, "
                f"{iv['nested_cv_coverage_pct']:.1f} % of all rows by nested CV"
            )
        if not remeasure:
            continue
        recs = [json.loads(x) for x in (data / "measurements.jsonl").read_text().splitlines() if x.strip()]
        recs = [r for r in recs if r["space"] == space]
        _, te = split(len(recs), seed=meta["split"]["seed"], test_fraction=meta["split"]["test_fraction"])
        te = te[:remeasure]
        archs = [ArchConfig.from_dict(recs[i]["arch"]) for i in te]
        # The campaign's references are timed beside the re-measured archs, so the
        # machine's speed now can be put on the campaign's scale.
        new, _, f = measure_on_scale(measure_group, p.space, archs, reference_levels(recs), seed=1, rounds=15)
        raw = np.array([r["median_ms"] for r in new])
        old = corrected_latency(recs)[te]
        if meta.get("refit_on_all_rows"):
            # The shipped model was refitted on all rows (held-out ones included): score the
            # model of the train rows only, as the stored metrics do.
            from predictors import features as feats
            from predictors import models as pm
            from predictors.dataset import records_to_xy
            from predictors.fitting import fit_and_score

            X, y, _ = records_to_xy(recs, p.space)
            r = fit_and_score(X, y, candidates=(meta["model"],), refit=False, **meta["split"])
            fd = meta["features"]
            Xa = feats.features(p.space, archs, batch_size=fd["batch_size"], seq_len=fd["seq_len"])
            pred = pm.get(meta["model"]).predict(r["params"], Xa)[0]
        else:
            pred = p.predict(archs)
        floor = evaluate(raw / f, old)
        print(
            f"{'':20s} re-measured {len(te)} now (machine at {f:.3f}x the campaign's typical time): "
            f"old vs new measurement within10 {floor['within10_pct']:.1f}% (tau {floor['kendall_tau']:.3f})"
        )
        for label, y in (("raw", raw), ("reference-corrected", raw / f)):
            s = evaluate(y, pred)
            print(
                f"{'':20s} predictor vs new ({label}) within10 {s['within10_pct']:.1f}% "
                f"within5 {s['within5_pct']:.1f}% tau {s['kendall_tau']:.3f}"
            )


def hat(candidates: tuple[str, ...], *, repeats: int = 3, mlp_repeats: int = 1) -> None:
    from predictors.fitting import out_of_fold

    print("== HAT latency files, README split (1,800 train / 200 test), within +-10 % ==")
    for name, (lr, mlp) in hat_data.BASELINES.items():
        X, y = hat_data.load(HAT / name)
        t0 = time.perf_counter()
        r = fit_and_score(X, y, candidates=candidates, seed=0, test_fraction=0.1)
        took = time.perf_counter() - t0
        s = r["scores"][r["best"]]
        cells = "  ".join(f"{k} {v['within10_pct']:.1f}" for k, v in r["scores"].items())
        ok = "beats both" if s["within10_pct"] > max(lr, mlp) else "DOES NOT beat both"
        top = max(v["within10_pct"] for v in r["scores"].values())
        print(
            f"{name:36s} {cells} | kept (CV) {r['best']} {s['within10_pct']:.1f}% ({top - s['within10_pct']:.1f} "
            f"below the best on this split) vs README's LR {lr} / MLP {mlp}: {ok}; 90 % interval covers "
            f"{r['coverage90_pct']:.1f} % held-out, {r['coverage90_cv_pct']:.1f} % nested CV; fit {took:.0f} s"
        )
    print(
        "\n== the default beside linear and HAT's MLP recipe (4x400 ReLU, Adam 1e-5, 5,000 steps of 128), "
        "measured here ==\n"
        f"held-out: README split; CV: pooled 5-fold on the 1,800 train rows, mean ± sd over fold splits\n"
        f"{'file':34s} {'model':18s} {'held-out':>8s} {'CV within10':>16s} {'splits':>6s} {'fit s':>6s}"
    )
    for name in hat_data.BASELINES:
        X, y = hat_data.load(HAT / name)
        r = fit_and_score(X, y, candidates=candidates, seed=0, test_fraction=0.1, calibrate=False)
        tr, te = r["train_idx"], r["test_idx"]
        rows = {}
        for label, model, reps in (("default (" + r["best"] + ")", r["best"], repeats), ("linear", "linear", repeats),
                                   ("HAT MLP recipe", "hat_mlp", mlp_repeats)):  # fmt: skip
            t0 = time.perf_counter()
            m = pm.get(model)
            held = evaluate(y[te], m.predict(m.fit(X[tr], y[tr], seed=0), X[te])[0])["within10_pct"]
            fit_s = time.perf_counter() - t0
            cv = [
                evaluate(y[tr], out_of_fold(model, X[tr], y[tr], seed=1000 * i))["within10_pct"]
                for i in range(reps)
            ] or [float("nan")]
            rows[label] = (held, np.mean(cv), np.std(cv, ddof=1) if reps > 1 else float("nan"), reps, fit_s)
            print(f"{name:34s} {label:18s} {held:8.1f} {np.mean(cv):9.1f} ± {rows[label][2]:4.1f} {reps:6d} "
                  f"{fit_s:6.1f}", flush=True)  # fmt: skip
        d, lin, hm = (rows[k][0] for k in rows)
        verdict = (
            "beats or equals both"
            if d >= max(lin, hm)
            else "LOSES to " + ("linear" if lin > d else "the MLP")
        )
        print(f"{name:34s} held-out: default {d:.1f} vs linear {lin:.1f} / MLP recipe {hm:.1f}: {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu-host")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--remeasure", type=int, default=0, help="re-measure K held-out archs (noise floor)")
    ap.add_argument("--hat-models", default=",".join(DEFAULT_CANDIDATES))
    ap.add_argument("--repeats", type=int, default=3, help="5-fold CV splits per model in the HAT comparison")
    ap.add_argument(
        "--mlp-repeats",
        type=int,
        default=0,
        help="the same for HAT's MLP recipe (0: held-out only; 5 fits each)",
    )
    ap.add_argument("--hat-only", action="store_true", help="only the HAT part")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: throughput,heldout,hat")
    args = ap.parse_args()
    skip = set(args.skip.split(",")) | ({"throughput", "heldout"} if args.hat_only else set())
    if "throughput" not in skip:
        throughput(args.device, args.n)
    if "heldout" not in skip:
        heldout(args.device, args.remeasure)
    if "hat" not in skip and HAT.is_dir():
        hat(tuple(args.hat_models.split(",")), repeats=args.repeats, mlp_repeats=args.mlp_repeats)


if __name__ == "__main__":
    main()
