"""Search study: every strategy against random search on real and toy tables.

    python experiments/search_study.py                      # all problems, 5 seeds, with the grid
    python experiments/search_study.py --seeds 2 --problems hwgpt-l --strategies random,bayesian --grid none

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
exact front's (every feasible row), mean over seeds with a 95 % t-interval.

Leave-one-table-out check (``--grid``): each non-default strategy also runs
with every setting of :data:`GRID` (surrogate pre-screening off, 4 and 16
children per proposal).  For each real table the setting with the best mean
hypervolume (over the three budgets) on the *other* real table is reported on
it, so a row shows what a setting chosen elsewhere does on a table it was not
chosen on.  Each run (problem, strategy, setting, seed) is cached under
``--cache`` as it finishes, so a killed study resumes where it stopped.

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
CACHE = ROOT / "runs" / "search_study_cache"
# Settings the leave-one-table-out check chooses among (the default is screen 16).
GRID = {s: ({"screen": 1}, {"screen": 16}) for s in ("evolution", "aging", "nsga2", "local")}
LOTO = ("hwgpt-m", "hwgpt-l")  # the real tables: a setting chosen on one is reported on the other


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


def label(strat: str, opts: dict) -> str:
    return strat + "".join(f" {k}={v}" for k, v in sorted(opts.items()))


def one_run(
    p: dict,
    name: str,
    strat: str,
    opts: dict,
    seed: int,
    budget: int,
    cache: Path | None,
    made: dict | None = None,
) -> tuple[np.ndarray, float]:
    """The hypervolume curve of one seeded run and its seconds (read from / written to the cache)."""
    from threadpoolctl import threadpool_limits

    from nas import strategies as S

    path = None
    opts = {k: v for k, v in opts.items() if defaults(strat).get(k) != v}  # a default's run is shared
    if cache is not None:
        path = (
            cache
            / code_version(strat)
            / f"{name}__{label(strat, opts).replace(' ', '_')}__{seed}__{budget}.json"
        )
        if path.exists():
            got = json.loads(path.read_text())
            return np.asarray(got["curve"]), got["seconds"]
    t0 = time.perf_counter()
    made = {} if made is None else made  # one strategy for every seed (pure: its state is per run)
    key = (name, label(strat, opts))
    if key not in made:
        made[key] = S.make(
            strat, p["cfg"].space, pool=p["pool"], prefilter=p["prefilter"], free=p["free"], **opts
        )
    s = made[key]
    with threadpool_limits(1):
        state = S.run_sequential(s, p["evaluate"], budget=budget, seed=seed, lag=2)
    curve = hv_curve(state, p["ref"], p["front_hv"], budget)
    seconds = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"curve": curve.round(6).tolist(), "seconds": round(seconds, 2)}))
    return curve, seconds


def defaults(strat: str) -> dict:
    import inspect

    from nas import strategies as S

    return {k: p.default for k, p in inspect.signature(S.FACTORIES[strat]).parameters.items()}


def code_version(strat: str) -> str:
    """A hash of the source a strategy runs: a cached run is reused only by the same code."""
    import hashlib

    own = {"random": "random", "evolution": "evolution", "aging": "aging", "nsga2": "nsga2", "local": "local"}
    shared = ("base", "domain", "pick", "surrogates", "acquisition", "features", "evolution", "bayesian")
    d = ROOT / "nas" / "strategies"
    files = [d / f"{m}.py" for m in sorted({*shared, own.get(strat, "bayesian")})] + [
        ROOT / "nas" / "objectives.py"
    ]
    return hashlib.sha1(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]


def summary(curves: np.ndarray, seconds: float) -> dict:
    at = curves[:, [b - 1 for b in BUDGETS]]
    n = len(at)
    half = stats_t(n) * at.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(at.shape[1])
    return {
        "mean": at.mean(0).round(4).tolist(),
        "std": at.std(0).round(4).tolist(),
        "ci95": half.round(4).tolist(),
        "per_seed": at.round(4).tolist(),
        "curve": curves.mean(0).round(4).tolist(),
        "seconds": round(seconds, 1),
    }


def stats_t(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def run(problems, strategies, seeds: int, budget: int = max(BUDGETS), *, grid: bool = True,
        cache: Path | None = CACHE) -> dict:  # fmt: skip
    """Every strategy with its defaults on every problem, then (``grid``) GRID's
    settings on the real tables; ``seconds`` sums the runs' own times."""
    out: dict = {"budgets": list(BUDGETS), "seeds": seeds, "problems": {}, "grid": {}}
    probs = {name: problem(PROBLEMS[name]) for name in problems}
    for name, p in probs.items():
        out["problems"][name] = {
            "config": PROBLEMS[name],
            "rows": p["rows"],
            "front_size": p["front_size"],
            "reference": p["ref"].tolist(),
            "strategies": {},
        }
    runs = [(name, s, {}) for name in problems for s in strategies]
    if grid:
        runs += [
            (name, s, o) for name in problems if name in LOTO for s in strategies for o in GRID.get(s, ())
        ]
    for name, strat, opts in runs:
        made: dict = {}
        got = [one_run(probs[name], name, strat, opts, seed, budget, cache, made) for seed in range(seeds)]
        r = summary(np.array([c for c, _ in got]), sum(t for _, t in got))
        where = out["grid"].setdefault(name, {}) if opts else out["problems"][name]["strategies"]
        where[label(strat, opts)] = r
        print(
            f"{name:8s} {label(strat, opts):18s} "
            + "  ".join(f"{m:.3f}±{h:.3f}" for m, h in zip(r["mean"], r["ci95"], strict=True))
            + f"  ({r['seconds']:.0f} s)",
            flush=True,
        )
    out["loto"] = leave_one_table_out(out)
    return out


def leave_one_table_out(res: dict) -> dict:
    """For each real table: per strategy, the grid setting best on the other table
    (mean hypervolume over the budgets), with its figures on this table."""
    out: dict = {}
    grid = res.get("grid", {})
    for target in LOTO:
        source = next((t for t in LOTO if t != target), None)
        if target not in grid or source not in grid:
            continue
        rows = {}
        for strat in GRID:
            cands = [k for k in grid[source] if k.split(" ")[0] == strat]
            if not cands:
                continue
            best = max(cands, key=lambda k: np.mean(grid[source][k]["mean"]))
            rows[strat] = {"chosen_on": source, "setting": best, **grid[target][best]}
        out[target] = rows
    return out


def cell(r: dict, i: int, rnd: dict | None, bold: bool) -> str:
    text = f"{r['mean'][i]:.3f} ± {r.get('ci95', r['std'])[i]:.3f}"
    return f"**{text}**" if bold and rnd is not None and r["mean"][i] > rnd["mean"][i] else text


def markdown(res: dict) -> str:
    budgets = res["budgets"]
    lines = [
        "# Search study",
        "",
        f"Hypervolume of the feasible front found / the exact front's, after {', '.join(map(str, budgets))} "
        f"evaluations, mean over {res['seeds']} seeds ± the half-width of its 95 % t-interval (reference fixed "
        "by the table; `python experiments/search_study.py`). Bold: mean above random search's at that budget. "
        "Every strategy runs with its default options; the evolutionary and local ones pre-screen their "
        "offspring by the surrogate of `bayesian` (`screen: 16`).",
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
            cells = [cell(r, i, rnd, strat != "random") for i in range(len(budgets))]
            lines.append(f"| {strat} | " + " | ".join(cells) + f" | {r['seconds']} |")
        lines.append("")
        if name in res.get("loto", {}):
            lines += [
                f"Leave-one-table-out on {name}: each strategy's setting chosen on "
                f"{next(iter(res['loto'][name].values()))['chosen_on']} (best mean hypervolume there among "
                + ", ".join(f"`{label('', o).strip()}`" for o in next(iter(GRID.values())))
                + "), reported here:",
                "",
                "| strategy (setting chosen on the other table) | "
                + " | ".join(f"{b} evals" for b in budgets) + " |",
                "|---|" + "---|" * len(budgets),
            ]  # fmt: skip
            for r in res["loto"][name].values():
                cells = [cell(r, i, rnd, True) for i in range(len(budgets))]
                lines.append(f"| {r['setting']} | " + " | ".join(cells) + " |")
            lines.append("")
        if name in res.get("grid", {}):
            lines += [
                f"Every grid setting on {name} (what the choice above saw on this table):",
                "",
                "| setting | " + " | ".join(f"{b} evals" for b in budgets) + " | seconds |",
                "|---|" + "---|" * (len(budgets) + 1),
            ]
            for key, r in res["grid"][name].items():
                cells = [cell(r, i, rnd, True) for i in range(len(budgets))]
                lines.append(f"| {key} | " + " | ".join(cells) + f" | {r['seconds']} |")
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
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--out", default=str(RESULTS), help="folder for search_study.{json,md,png}")
    ap.add_argument(
        "--grid",
        default="loto",
        choices=("loto", "none"),
        help="loto: also run GRID's settings on the real tables and report the leave-one-table-out rows",
    )
    ap.add_argument("--cache", default=str(CACHE), help="folder of finished runs (resume); '' for none")
    a = ap.parse_args(argv)
    res = run(a.problems.split(","), a.strategies.split(","), a.seeds, grid=a.grid == "loto",
              cache=Path(a.cache) if a.cache else None)  # fmt: skip
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_study.json").write_text(json.dumps(res, indent=1))
    (out / "search_study.md").write_text(markdown(res))
    plot(res, out / "search_study.png")
    print(markdown(res))


if __name__ == "__main__":
    main()
