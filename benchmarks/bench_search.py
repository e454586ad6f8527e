"""Search benchmarks: Ray throughput with pinned workers, and front quality.

    python -m benchmarks.bench_search throughput [--evals 40] [--steps 30]
    python -m benchmarks.bench_search quality [--seeds 3] [--strategies random,evolution,...]
    python -m benchmarks.bench_search proposals [--pool 10000] [--history 200] [--batch 4]

``throughput`` runs the same random search (``experiments.toy_evaluators:busy``,
a fixed ``--steps`` of JAX matrix products per architecture) with 1 and then 2
pinned Ray workers and prints evaluations per second in steady state (after
each worker's first result, so that Ray start-up and JAX compilation are not
counted) and their ratio (goal >= 1.7 on two free cores).

``quality`` searches the synthetic tabular benchmark of
``experiments/make_tabular.py`` (max accuracy, min params, flops <= 4e6,
restricted to the table's 2,000 rows) with each strategy and prints the
hypervolume (reference: 5 % beyond the nadir of the true
front) of the feasible front found after 50, 100 and 200 evaluations as
a fraction of the true front's (every feasible row of the table), averaged
over seeds, and as a ratio to random search at the same budget.  The
strategies run with the runner's schedule (2 results in flight) without Ray:
quality does not depend on where evaluations run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

CHECKPOINTS = (50, 100, 200)


def throughput(evals: int, steps: int) -> dict[int, float]:
    from nas import runner, search_config

    rates = {}
    for workers in (1, 2):
        cfg = search_config.check(
            {
                "space": "vit-mnist",
                "evaluators": [
                    {
                        "kind": "callable",
                        "target": "experiments.toy_evaluators:busy",
                        "options": {"steps": steps},
                    }
                ],
                "objectives": ["max score"],
                "strategy": "random",
                "budget": evals * workers,
                "seed": 0,
                "lag": 4,
            }
        )
        with tempfile.TemporaryDirectory() as d:
            res = runner.run_search(cfg, f"{d}/run", workers=workers, progress=False)
        t = np.sort([r["time"] for r in res.records])
        rates[workers] = (len(t) - workers) / (t[-1] - t[workers - 1])
        names = sorted({r["worker"] for r in res.records})
        print(f"{workers} worker(s) {names}: {rates[workers]:.2f} evaluations/s")
    print(f"speed-up 2 vs 1 pinned workers: {rates[2] / rates[1]:.2f}x (goal >= 1.7)")
    return rates


def quality(seeds: int, strategies: list[str]) -> None:
    from experiments.make_tabular import SPACE_FILE, TABLE_FILE
    from nas import runner, search_config
    from nas import strategies as S
    from nas.objectives import hypervolume, objective_vector, pareto_mask, total_violation

    opts = {
        "random": {},
        "evolution": {"population": 20, "parents": 5},
        "aging": {"population": 20, "sample_size": 5},
        "nsga2": {"population": 20},
        "bayesian": {"initial": 10},
        "local": {},
    }
    cfg = search_config.check(
        {
            "space": str(SPACE_FILE),
            "evaluators": [{"kind": "table", "path": str(TABLE_FILE)}],
            "objectives": ["max accuracy", "min params"],
            "constraints": ["flops <= 4e6"],
            "budget": max(CHECKPOINTS),
        }
    )
    from nas.evaluators import read_table

    table = read_table(TABLE_FILE)
    F_all = np.array([objective_vector(m, cfg.objectives) for m in table.values()])
    ok = np.array([total_violation(m, cfg.constraints) <= 0 for m in table.values()])
    front = F_all[ok][pareto_mask(F_all[ok])]
    ref = front.max(0) + 0.05 * (front.max(0) - front.min(0))  # just beyond the true front's nadir
    true_hv = hypervolume(front, ref)
    pool, prefilter = runner.build_pool(cfg), runner.build_prefilter(cfg)

    def evaluate(archs):
        ms = [table[a.to_json()] for a in archs]
        F = np.array([objective_vector(m, cfg.objectives) for m in ms])
        return F, np.array([total_violation(m, cfg.constraints) for m in ms])

    def hv_at(state, n):
        F, v = np.array(state.F[:n]), np.array(state.violation[:n])
        F = F[v <= 0]
        return hypervolume(F[pareto_mask(F)], ref) / true_hv if len(F) else 0.0

    results = {}
    for name in strategies:
        start = time.perf_counter()
        rows = []
        for seed in range(seeds):
            strat = S.make(name, cfg.space, pool=pool, prefilter=prefilter, **opts[name])
            state = S.run_sequential(strat, evaluate, budget=max(CHECKPOINTS), seed=seed, lag=2)
            rows.append([hv_at(state, n) for n in CHECKPOINTS])
        results[name] = np.mean(rows, 0)
        print(
            f"{name:10s} HV/true HV after {', '.join(map(str, CHECKPOINTS))} evaluations: "
            + "  ".join(f"{x:.4f}" for x in results[name])
            + f"   ({time.perf_counter() - start:.0f} s, {seeds} seeds)",
            flush=True,
        )
    if "random" in results:
        for name, r in results.items():
            if name != "random":
                ratio = r / results["random"]
                print(f"{name:10s} vs random at equal budget: " + "  ".join(f"{x:.3f}x" for x in ratio))


def gpt2_params(space, archs) -> np.ndarray:
    """HW-GPT-Bench's parameter count (see /work/shared/data/hwgpt/README.md), vectorized."""
    from search_spaces.batch import to_batch

    b = to_batch(space, archs)
    E, bias = b.values["embed_dim"], b.values["bias"]
    H, R = b.values["num_heads"] * 64, b.values["mlp_ratio"] * E[:, None]
    layer = 4 * E[:, None] + 4 * E[:, None] * H + 2 * E[:, None] * R
    layer = layer + bias[:, None] * (3 * H + E[:, None] + R + E[:, None])
    return (50257 + 1024 + 2) * E + np.where(b.active, layer, 0).sum(1)


def proposals(pool_size: int, history: int, batch: int) -> float:
    """Seconds of one batch of ``bayesian`` proposals over a pool of ``pool_size``
    architectures of the HW-GPT-Bench M space after ``history`` results
    (perplexity: the real table's for its rows; params free), one BLAS thread."""
    from threadpoolctl import threadpool_limits

    from experiments.search_study import problem
    from nas import strategies as S

    p = problem("experiments/search_hwgpt_m.yaml")
    space, table_pool = p["cfg"].space, p["pool"]
    in_table = set(table_pool)
    extra = [a for a in space.sample_many(0, 2 * pool_size) if a not in in_table]
    pool = (table_pool + extra)[:pool_size]
    free = S.Free(lambda archs: np.c_[np.full(len(archs), np.nan), gpt2_params(space, archs)], (False, True))
    strat = S.make("bayesian", space, pool=pool, free=free)
    evaluated = table_pool[:: max(1, len(table_pool) // history)][:history]
    F, v = p["evaluate"](evaluated)

    def state(n):
        s = strat.init(0)._replace(asked=tuple(a.to_json() for a in evaluated[:n]))
        return strat.tell(s, evaluated[:n], F[:n], v[:n])

    with threadpool_limits(1):
        strat.ask(state(30), batch)  # warm-up: imports and caches
        start = time.perf_counter()
        archs, _ = strat.ask(state(history), batch)
        fitted = time.perf_counter() - start
        start = time.perf_counter()
        strat.ask(state(history), batch)
        memo = time.perf_counter() - start
        base = sklearn_gp_seconds(history, len(pool))
    print(
        f"bayesian: {len(archs)} proposals over {len(pool)} candidates after {history} results: "
        f"{fitted:.2f} s with the GP's hyperparameter fit, {memo:.2f} s without "
        "(hyperparameters are refitted only when the history grew by 15 %); goal < 1 s on 2 cores"
    )
    print(
        f"baseline in the same run: scikit-learn's GP fit ({history} x 7 features) and predict with std "
        f"({len(pool)} rows), no acquisition: {base:.2f} s; ratio ours / baseline {fitted / base:.2f}x"
    )
    return fitted


def sklearn_gp_seconds(n: int, m: int) -> float:
    """The same size of problem for scikit-learn's GP (Matern ARD + noise), timed."""
    import warnings

    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    rng = np.random.default_rng(0)
    X, Xc = rng.random((n, 7)), rng.random((m, 7))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    kernel = ConstantKernel() * Matern(np.ones(7), nu=2.5) + WhiteKernel(1e-2)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianProcessRegressor(kernel, normalize_y=True).fit(X, y).predict(Xc, return_std=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--evals", type=int, default=40, help="evaluations per worker")
    t.add_argument("--steps", type=int, default=30, help="256x256 matrix products per evaluation")
    q = sub.add_parser("quality")
    q.add_argument("--seeds", type=int, default=3)
    q.add_argument("--strategies", default="random,evolution,aging,nsga2,local,bayesian")
    b = sub.add_parser("proposals")
    b.add_argument("--pool", type=int, default=10_000)
    b.add_argument("--history", type=int, default=200)
    b.add_argument("--batch", type=int, default=4)
    a = p.parse_args()
    if a.what == "throughput":
        throughput(a.evals, a.steps)
    elif a.what == "proposals":
        proposals(a.pool, a.history, a.batch)
    else:
        quality(a.seeds, a.strategies.split(","))


if __name__ == "__main__":
    main()
