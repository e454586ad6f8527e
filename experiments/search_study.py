"""Search study: every strategy against random search on real and toy tables.

    python experiments/search_study.py                      # all problems, 5 seeds (a few minutes)
    python experiments/search_study.py --seeds 2 --problems hwgpt-l --strategies random,bayesian

Problems are search configs restricted to the rows of a table:
``experiments/search_hwgpt_m.yaml`` and ``search_hwgpt_l.yaml`` (real HW-GPT-Bench
perplexity, min perplexity and min params; params is a free column) and
``experiments/search_tabular.yaml`` (the synthetic toy, max accuracy and min
params under ``flops <= 4e6``).  Each strategy runs with its default options
(none is tuned per table) through :func:`nas.strategies.run_sequential` with
the runner's schedule (2 results in flight), in this process, without Ray:
quality does not depend on where evaluations run.  The hypervolume reference is
fixed by the table as a search run fixes it (:func:`nas.reference.fixed_reference`:
each objective's worst value over the table's feasible rows, moved out by 1e-4
of its size), so figures are comparable across runs; each figure is the hypervolume of the
feasible front found after 50, 100 and 200 evaluations as a fraction of the
exact front's (every feasible row), mean ± std over seeds.

Writes ``experiments/results/search_study.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBLEMS = {
    "hwgpt-m": "experiments/search_hwgpt_m.yaml",
    "hwgpt-l": "experiments/search_hwgpt_l.yaml",
    "tabular": "experiments/search_tabular.yaml",
}
STRATEGIES = ("random", "evolution", "aging", "nsga2", "local", "bayesian")
BUDGETS = (50, 100, 200)
RESULTS = ROOT / "experiments" / "results"


def problem(path: str | Path) -> dict:
    """Everything a run of one table needs: config, pool, pre-filter, free
    objectives, the table's objective rows and the fixed reference."""
    from nas import runner, search_config
    from nas.free import build_free
    from nas.objectives import hypervolume, objective_vector, pareto_mask, total_violation
    from nas.reference import fixed_reference
    from nas.table import mapping, read_table

    cwd = os.getcwd()
    os.chdir(ROOT)  # configs name paths relative to the repository root
    try:
        cfg = search_config.load(path)
    finally:
        os.chdir(cwd)
    spec = next(s for s in cfg.evaluators if s["kind"] == "table")
    table = read_table(spec["path"], **mapping(spec))
    keys = list(table)
    F = np.array([objective_vector(table[k], cfg.objectives) for k in keys])
    v = np.array([total_violation(table[k], cfg.constraints) for k in keys])
    ref = np.array([o.sign * r for o, r in zip(cfg.objectives, fixed_reference(cfg), strict=True)])
    front = F[v <= 0][pareto_mask(F[v <= 0])]
    index = {k: i for i, k in enumerate(keys)}

    def evaluate(archs):
        rows = [index[a.to_json()] for a in archs]
        return F[rows], v[rows]

    return {
        "cfg": cfg,
        "pool": runner.build_pool(cfg),
        "prefilter": runner.build_prefilter(cfg),
        "free": build_free(cfg.evaluators, cfg.objectives, cfg.space),
        "evaluate": evaluate,
        "ref": ref,
        "front_hv": hypervolume(front, ref),
        "front_size": len(front),
        "rows": len(keys),
    }


def hv_curve(state, ref, front_hv: float, budget: int) -> np.ndarray:
    """Hypervolume fraction of the feasible front after each evaluation."""
    from nas.objectives import hypervolume, pareto_mask

    F, v = np.array(state.F), np.array(state.violation)
    out = np.zeros(budget)
    for n in range(1, budget + 1):
        ok = F[:n][v[:n] <= 0]
        out[n - 1] = hypervolume(ok[pareto_mask(ok)], ref) / front_hv if len(ok) else 0.0
    return out


def run(problems, strategies, seeds: int, budget: int = max(BUDGETS)) -> dict:
    from threadpoolctl import threadpool_limits

    from nas import strategies as S

    out: dict = {"budgets": list(BUDGETS), "seeds": seeds, "problems": {}}
    for name in problems:
        p = problem(PROBLEMS[name])
        entry = {
            "config": PROBLEMS[name],
            "rows": p["rows"],
            "front_size": p["front_size"],
            "reference": p["ref"].tolist(),
            "strategies": {},
        }
        for strat in strategies:
            t0 = time.perf_counter()
            curves = []
            for seed in range(seeds):
                s = S.make(strat, p["cfg"].space, pool=p["pool"], prefilter=p["prefilter"], free=p["free"])
                with threadpool_limits(1):
                    state = S.run_sequential(s, p["evaluate"], budget=budget, seed=seed, lag=2)
                curves.append(hv_curve(state, p["ref"], p["front_hv"], budget))
            curves = np.array(curves)
            at = curves[:, [b - 1 for b in BUDGETS]]
            entry["strategies"][strat] = {
                "mean": at.mean(0).round(4).tolist(),
                "std": at.std(0).round(4).tolist(),
                "curve": curves.mean(0).round(4).tolist(),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(
                f"{name:8s} {strat:10s} "
                + "  ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(at.mean(0), at.std(0), strict=True))
                + f"  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
        out["problems"][name] = entry
    return out


def markdown(res: dict) -> str:
    budgets = res["budgets"]
    lines = [
        "# Search study",
        "",
        f"Hypervolume of the feasible front found / the exact front's, after {', '.join(map(str, budgets))} "
        f"evaluations, mean ± std over {res['seeds']} seeds (reference fixed by the table; "
        "`experiments/search_study.py`). Bold: beats random search at that budget.",
        "",
    ]
    for name, e in res["problems"].items():
        lines += [
            f"## {name} ({e['rows']} rows, exact front {e['front_size']} points, `{e['config']}`)",
            "",
            "| strategy | " + " | ".join(f"{b} evals" for b in budgets) + " | seconds |",
            "|---|" + "---|" * (len(budgets) + 1),
        ]
        rnd = e["strategies"].get("random")
        for strat, r in e["strategies"].items():
            cells = []
            for i in range(len(budgets)):
                cell = f"{r['mean'][i]:.3f} ± {r['std'][i]:.3f}"
                if rnd is not None and strat != "random" and r["mean"][i] > rnd["mean"][i]:
                    cell = f"**{cell}**"
                cells.append(cell)
            lines.append(f"| {strat} | " + " | ".join(cells) + f" | {r['seconds']} |")
        lines.append("")
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res["problems"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for strat, r in res["problems"][name]["strategies"].items():
            c = np.asarray(r["curve"])
            ax.plot(np.arange(1, len(c) + 1), c, label=strat, lw=2 if strat in ("random", "bayesian") else 1)
        ax.set_title(name)
        ax.set_xlabel("evaluations")
        ax.set_ylim(0.85, 1.0)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("hypervolume / exact front's")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--out", default=str(RESULTS), help="folder for search_study.{json,md,png}")
    a = ap.parse_args(argv)
    res = run(a.problems.split(","), a.strategies.split(","), a.seeds)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_study.json").write_text(json.dumps(res, indent=1))
    (out / "search_study.md").write_text(markdown(res))
    plot(res, out / "search_study.png")
    print(markdown(res))


if __name__ == "__main__":
    main()
