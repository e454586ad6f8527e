"""The fidelity study's report: every figure computed from the finished units, then Markdown and a plot.

Regenerate the md and png from a saved json without rerunning anything::

    python experiments/fidelity_report.py experiments/results/fidelity_study.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from experiments import fidelity_search
from experiments import fidelity_stats as FS
from experiments import fidelity_units as U

ROOT = Path(__file__).resolve().parents[1]


def _metric_of(unit: dict | None, metric: str) -> float | None:
    return None if unit is None else float(unit[metric])


def _standalone(study, arch, which: str) -> dict | None:
    return U.read(study.folder / "standalone" / f"{U.digest(arch.to_dict())}-{which}.json")


def _pick_regrets(study, found: dict, best: float | None) -> None:
    """Adds each pick's stand-alone metric and regret (against ``best``) to ``found['picks']``."""
    for pick in found["picks"].values():
        unit = _standalone(study, study.space.parse(pick["arch"]), "A")
        pick["standalone"] = _metric_of(unit, study.metric)
        if pick["standalone"] is not None and best is not None:
            pick["regret"] = FS.regret(pick["standalone"], best, lower_better=study.lower_better)


def over_seeds(runs: Sequence[dict]) -> dict | None:
    """Default vs random search over the finished search seeds: mean regrets and the count of seeds
    where the default's pick is better, equal (the same stand-alone figure) or worse."""
    pairs = [(r["picks"]["default"].get("regret"), r["picks"]["random"].get("regret")) for r in runs]
    pairs = [(d, r) for d, r in pairs if d is not None and r is not None]
    if not pairs:
        return None
    d, r = np.array(pairs).T
    return {
        "n": len(pairs), "default_mean": float(d.mean()), "random_mean": float(r.mean()),
        "default_worst": float(d.max()), "random_worst": float(r.max()),
        "default_better": int((d < r).sum()), "equal": int((d == r).sum()), "random_better": int((d > r).sum()),
    }


def _searches(study, label: str, alone: list[float | None]) -> dict:
    out = {}
    flops = np.asarray(study.flops)
    sign = 1.0 if study.lower_better else -1.0
    for b in study.s["bounds"]:
        found = U.read(study.folder / "search" / fidelity_search.unit_name(label, b, 0))
        if found is None:
            continue
        bound = found["bound_mflops"] * 1e6
        ok = [i for i in range(len(alone)) if flops[i] <= bound and alone[i] is not None]
        best = min(ok, key=lambda i: sign * alone[i]) if ok else None
        best_v = None if best is None else alone[best]
        entry = {**found, "best_of_spread": None if best is None else {
            "subnet": best, "standalone": best_v, "mflops": float(flops[best]) / 1e6}}
        _pick_regrets(study, entry, best_v)
        runs = [entry]
        for path in sorted((study.folder / "search").glob(f"{label}-{b:g}-seed*.json")):
            run = U.read(path)
            _pick_regrets(study, run, best_v)
            runs.append(run)
        entry["over_seeds"] = over_seeds(runs)
        out[f"{b:g}"] = entry
    return out


def space_section(study, labels: Sequence[str]) -> dict[str, Any]:
    """The space's figures from the units on disk; a recipe or seed still running is left out and named."""
    m = study.metric
    alone = [_metric_of(_standalone(study, a, "A"), m) for a in study.subnets]
    seed_b = {i: _metric_of(_standalone(study, study.subnets[i], "B"), m) for i in study.b_index}
    sec: dict[str, Any] = {
        "space": study.space.name,
        "settings": study.s,
        "metric": m,
        "lower_better": study.lower_better,
        "subnets": [a.to_dict() for a in study.subnets],
        "subnet_short": [a.short() for a in study.subnets],
        "subnet_mflops": (np.asarray(study.flops) / 1e6).tolist(),
        "standalone": alone,
        "standalone_seconds": [(_standalone(study, a, "A") or {}).get("seconds") for a in study.subnets],
        "seed_b": {str(i): v for i, v in seed_b.items()},
        "recipes": {},
        "pending": [],
    }
    done_b = [i for i, v in seed_b.items() if v is not None and alone[i] is not None]
    if len(done_b) >= 3:
        a, b = [alone[i] for i in done_b], [seed_b[i] for i in done_b]
        sec["noise_ceiling"] = {"kendall": FS.kendall(a, b), "spearman": FS.spearman(a, b)}
    if len(done_b) < len(seed_b):
        sec["pending"].append(f"stand-alone seed B: {len(done_b)} of {len(seed_b)} finished")
    done = [i for i, v in enumerate(alone) if v is not None]
    sec["finished_subnets"] = done
    if len(done) < len(alone):
        sec["pending"].append(
            f"stand-alone seed A: {len(done)} of {len(alone)} finished (every figure below is over those)"
        )
    if len(done) < 4:
        return sec
    truth, flops = [alone[i] for i in done], [study.flops[i] for i in done]
    for label in labels:
        trained = U.read(study.folder / "supernet" / f"{label}.json")
        inh = U.read(study.folder / "inherited" / f"{label}.json")
        if trained is None or inh is None:
            sec["pending"].append(f"recipe {label}")
            continue
        got = [r[m] for r in inh["metrics"]]
        sub = [got[i] for i in done]
        sec["recipes"][label] = {
            **{k: trained[k] for k in ("recipe", "steps", "passes_per_step", "total_passes", "train_s")},
            "inherited": got,
            "kendall": FS.kendall(sub, truth),
            "spearman": FS.spearman(sub, truth),
            "top25_precision": FS.top_precision(sub, truth, lower_better=study.lower_better),
            "quartile_gap": FS.quartile_gaps(flops, sub, truth),
            "searches": _searches(study, label, alone),
        }
    _paired(sec, got_b=done_b, seed_b=seed_b, done=done)
    sec["verdict"] = verdict(sec)
    return sec


def _paired(sec: dict, *, got_b: list[int], seed_b: dict, done: list[int]) -> None:
    """Per recipe, paired bootstrap differences of Kendall tau (the same subnets resampled for both
    sides): minus the noise ceiling's tau on the subnets with a seed B, minus uniform's on all."""
    alone, recipes = sec["standalone"], sec["recipes"]
    for label, r in recipes.items():
        inh = r["inherited"]
        if len(got_b) >= 3:
            r["tau_minus_ceiling"] = FS.kendall_difference(
                [inh[i] for i in got_b], [seed_b[i] for i in got_b], [alone[i] for i in got_b]
            )
        if "uniform" in recipes and label != "uniform":
            uni = recipes["uniform"]["inherited"]
            r["tau_minus_uniform"] = FS.kendall_difference(
                [inh[i] for i in done], [uni[i] for i in done], [alone[i] for i in done]
            )


def verdict(sec: dict) -> dict | None:
    """The recipe with the highest tau, and whether the lower end of its interval clears uniform's tau."""
    done = {k: r for k, r in sec["recipes"].items() if r["kendall"]["value"] is not None}
    if not done:
        return None
    best = max(done, key=lambda k: done[k]["kendall"]["value"])
    uni = done.get("uniform", {}).get("kendall", {}).get("value")
    nc = (sec.get("noise_ceiling") or {}).get("kendall", {}).get("value")
    tau = done[best]["kendall"]
    return {
        "best": best,
        "tau": tau["value"],
        "beats_uniform": None if uni is None else bool(best != "uniform" and tau["lo"] > uni),
        "within_0.1_of_noise_ceiling": None if nc is None else bool(tau["value"] >= nc - 0.1),
    }


# ---- files --------------------------------------------------------------------------------
def _ci(r: dict | None, digits: int = 2) -> str:
    if not r or r.get("value") is None:
        return "n/a"
    return f"{r['value']:.{digits}f} [{r['lo']:.{digits}f}, {r['hi']:.{digits}f}]"


def command(sec: dict) -> str:
    s = sec["settings"]
    quick = s["space"].endswith("vit-tiny.yaml")
    flags = ["--quick"] if quick else [f"--space {s['space']}"]
    flags += [f"--samplers {','.join(sec['recipes']) or '...'}", *sec.get("flags", [])]
    return "python experiments/fidelity_study.py " + " ".join(flags)


def _gap(v: float, metric: str) -> str:
    return f"{v:+.3f}" if metric == "accuracy" else f"{v:+.1f}"


def _fmt(v: float | None, metric: str) -> str:
    return "pending" if v is None else (f"{v:.3f}" if metric == "accuracy" else f"{v:.1f}")


def markdown(report: dict) -> str:
    lines = ["# Fidelity study: inherited vs stand-alone ranking, at equal compute", ""]
    lines += ["Generated by (one per space; resumable, each finished unit is kept in the `--units` folder, "
              "by default `experiments/results/fidelity_study_units/`):", ""]
    lines += [f"    {command(sec)}" for sec in report["spaces"].values()]
    json_path = report.get("json", "experiments/results/fidelity_study.json")
    lines += ["", f"Regenerate this file and the plot from the json: `python experiments/fidelity_report.py {json_path}`.",
              ""]
    for name, sec in report["spaces"].items():
        lines += _space_md(name, sec)
    return "\n".join(lines) + "\n"


def _space_md(name: str, sec: dict) -> list[str]:
    s, m = sec["settings"], sec["metric"]
    nc = sec.get("noise_ceiling", {})
    lines = [
        f"## {name} ({m}, {'lower' if sec['lower_better'] else 'higher'} is better)", "",
        f"{s['subnets']} subnets evenly spread over the FLOPs range; each trained stand-alone from scratch for "
        f"{s['standalone_steps']} steps of batch {s['batch']}" + (f" x {s['seq_len']} tokens" if s["seq_len"] else "")
        + f" (AdamW, lr {s['lr']}, {s['warmup']} warm-up steps, cosine); scored on {s['val_examples']} "
        "validation examples. Every supernet: "
        f"{s['passes']} subnet forward/backward passes (equal compute), seed {s['seed']}, same batches.", "",
        f"**Noise ceiling** (stand-alone seed A vs seed B over {(nc.get('kendall') or {}).get('n', 0)} of the "
        "subnets): Kendall tau "
        f"{_ci(nc.get('kendall'))}, Spearman rho {_ci(nc.get('spearman'))} (95 % bootstrap intervals).", "",
    ]
    if sec["pending"]:
        lines += ["Pending (not finished when this was written): " + "; ".join(sec["pending"]) + ".", ""]
    if sec["recipes"]:
        lines += [
            "| recipe | passes / step | steps | Kendall tau [95 %] | Spearman rho [95 %] | noise ceiling tau "
            "| top-25 % precision | gap Q1 (smallest) | gap Q2 | gap Q3 | gap Q4 | train s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label, r in sec["recipes"].items():
            g = " | ".join(_gap(x, m) for x in r["quartile_gap"])
            lines.append(
                f"| {label} | {'/'.join(map(str, r['passes_per_step']))} | {r['steps']} | {_ci(r['kendall'])} "
                f"| {_ci(r['spearman'])} | {_ci(nc.get('kendall'))} | {r['top25_precision']:.2f} | {g} "
                f"| {r['train_s']:.0f} |"
            )
        lines += ["", f"Gap: mean inherited minus stand-alone {m} per FLOPs quartile of the finished subnets.", ""]
        v = sec.get("verdict")
        if v:
            lines += [
                f"Highest tau: **{v['best']}** ({v['tau']:.2f}); the lower end of its interval "
                + ("is above" if v["beats_uniform"] else "is not above")
                + " uniform's tau" + ("" if v["best"] != "uniform" else " (it is uniform)") + "; "
                + ("within" if v["within_0.1_of_noise_ceiling"] else "not within")
                + " 0.1 of the noise ceiling.",
                "",
            ]
        lines += _paired_md(sec)
        lines += _search_md(sec)
    head = ["subnet", "MFLOPs", f"stand-alone {m}", "seed B", *sec["recipes"]]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, short in enumerate(sec["subnet_short"]):
        inh = " | ".join(_fmt(r["inherited"][i], m) for r in sec["recipes"].values())
        b = sec["seed_b"].get(str(i), "")
        lines.append(f"| {short} | {sec['subnet_mflops'][i]:.1f} | {_fmt(sec['standalone'][i], m)} | "
                     f"{'' if b == '' else _fmt(b, m)} | {inh} |")
    return lines + [""]


def summary_table(sec: dict) -> str:
    """The short table the guides (docs/training.md) and docs/design.md quote (tests/test_fidelity_study.py checks they match)."""
    nc = _ci(sec.get("noise_ceiling", {}).get("kendall"))
    lines = [
        "| recipe | subnet passes / step | Kendall tau [95 %] | Spearman rho [95 %] | noise ceiling tau "
        "| top-25 % precision | gap, smallest quartile |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in sec["recipes"].items():
        q1 = r["quartile_gap"][0]
        lines.append(
            f"| {label} | {'/'.join(map(str, r['passes_per_step']))} | {_ci(r['kendall'])} | {_ci(r['spearman'])} "
            f"| {nc} | {r['top25_precision']:.2f} | {_gap(q1, sec['metric'])} |"
        )
    return "\n".join(lines)


def _paired_md(sec: dict) -> list[str]:
    """Paired differences of tau: is a recipe measurably below the noise ceiling, or above uniform?"""
    rows = [
        f"| {label} | {_ci(r.get('tau_minus_ceiling'))} | {_ci(r.get('tau_minus_uniform'))} |"
        for label, r in sec["recipes"].items()
        if r.get("tau_minus_ceiling") or r.get("tau_minus_uniform")
    ]
    if not rows:
        return []
    n = next((r["tau_minus_ceiling"]["n"] for r in sec["recipes"].values() if r.get("tau_minus_ceiling")), 0)
    return [
        "Paired differences of Kendall tau with 95 % bootstrap intervals (both sides computed on the same "
        f"resampled subnets): the recipe's tau minus the noise ceiling's on the {n} subnets with a second "
        "stand-alone seed (an interval that holds 0 cannot tell the recipe from stand-alone training's own "
        "noise), and minus uniform sampling's on all finished subnets.", "",
        "| recipe | tau minus noise ceiling [95 %] | tau minus uniform's [95 %] |", "|---|---|---|", *rows, "",
    ]


def _search_md(sec: dict) -> list[str]:
    m = sec["metric"]
    rows = []
    for label, r in sec["recipes"].items():
        for b, e in r["searches"].items():
            best = e["best_of_spread"]
            cells = []
            for key in ("default", "random"):
                p = e["picks"][key]
                reg = p.get("regret")
                reg_s = "pending" if reg is None else (f"{100 * reg:+.1f} %" if sec["lower_better"] else f"{reg:+.3f}")
                cells.append(f"{p['strategy']}: {p['mflops']:.0f} MFLOPs, inherited {_fmt(p['inherited'], m)}, "
                             f"stand-alone {_fmt(p.get('standalone'), m)}, regret {reg_s}")
            best_s = "none" if best is None else f"{_fmt(best['standalone'], m)} ({best['mflops']:.0f} MFLOPs)"
            rows.append(f"| {label} | {b} ({e['bound_mflops']:.0f} MFLOPs) | {e['evaluations']} | {best_s} | "
                        + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["End to end: the default search and random search, each with the same number of inherited "
            "evaluations, under a FLOPs bound (fraction of the largest subnet's); regret of the pick trained "
            "stand-alone against the best stand-alone subnet of the spread under the bound "
            f"({'relative' if sec['lower_better'] else 'points'}).", "",
            "| recipe | bound | evaluations | best of spread | default search pick | random search pick |",
            "|---|---|---|---|---|---|", *rows, "", *_seeds_md(sec)]


def _seeds_md(sec: dict) -> list[str]:
    """Default vs random over every finished search seed (recipes searched with more than one)."""
    rel = sec["lower_better"]

    def f(x: float) -> str:
        return f"{100 * x:+.1f} %" if rel else f"{x:+.3f}"

    rows = []
    for label, r in sec["recipes"].items():
        for b, e in r["searches"].items():
            o = e.get("over_seeds")
            if o and o["n"] > 1:
                rows.append(f"| {label} | {b} | {o['n']} | {f(o['default_mean'])} (worst {f(o['default_worst'])}) "
                            f"| {f(o['random_mean'])} (worst {f(o['random_worst'])}) "
                            f"| {o['default_better']} / {o['equal']} / {o['random_better']} |")
    if not rows:
        return []
    return ["Over search seeds (the same supernet, each search seed a new default and random search; "
            "regret as above):", "",
            "| recipe | bound | seeds | default search: mean regret | random search: mean regret "
            "| default better / equal / worse |", "|---|---|---|---|---|---|", *rows, ""]


def plot(report: dict, path: Path) -> None:
    """Inherited vs stand-alone metric per recipe, one panel per space."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    secs = list(report["spaces"].values())
    fig, axes = plt.subplots(1, len(secs), figsize=(6 * len(secs), 4.8), dpi=110, squeeze=False)
    for ax, sec in zip(axes[0], secs, strict=True):
        alone = np.asarray([np.nan if v is None else v for v in sec["standalone"]])
        for label, r in sec["recipes"].items():
            ax.scatter(alone, r["inherited"], s=14, label=f"{label} (tau {r['kendall']['value'] or 0:.2f})")
        ax.set_xlabel(f"stand-alone {sec['metric']}")
        ax.set_ylabel(f"inherited {sec['metric']}")
        if sec["metric"] == "perplexity":
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(sec["space"])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_files(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    U.write_atomic(out / "fidelity_study.json", report)
    (out / "fidelity_study.md").write_text(markdown(report))
    plot(report, out / "fidelity_study.png")


def write(section: dict, out: Path, *, args: Any = None) -> dict:
    """Puts ``section`` into ``out/fidelity_study.json`` (other spaces kept) and rewrites md and png."""
    report = U.read(out / "fidelity_study.json") or {"spaces": {}}
    report["spaces"][section["space"]] = section
    path = (out / "fidelity_study.json").resolve()
    report["json"] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    write_files(report, out)
    return report


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results" / "fidelity_study.json"
    write_files(json.loads(path.read_text()), path.parent)


if __name__ == "__main__":
    main()
