"""The fidelity study's end-to-end check: the default search on a supernet, and random search.

The search is configured as a user's ``nas search`` config would be (one measured objective,
the task's metric, and ``flops <= bound``), so :func:`nas.search_config.default_strategy`
picks the strategy (``bayesian`` for a measured objective) and the strategy gets the
runner's pre-filter (the FLOPs constraint is checked before proposing) and free metrics.
It runs in this process with the runner's schedule (:func:`nas.strategies.run_sequential`,
2 results in flight), each inherited evaluation computed on the study's validation batches.
Random search gets the same number of evaluations, seed and pre-filter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from search_spaces import complexity


def unit_name(label: str, bound: float, seed_index: int) -> str:
    """The unit file of recipe ``label``'s searches under ``bound`` with the study's seed plus ``seed_index``."""
    return f"{label}-{bound:g}.json" if seed_index == 0 else f"{label}-{bound:g}-seed{seed_index}.json"


def searches(study, params: Callable[[], Any], *, bound: float, workdir: Path, seed: int) -> dict:
    """``{"bound", "strategy", "evaluations", "picks": {"default": ..., "random": ...}}``; a pick is the
    best feasible subnet by inherited metric: ``{"arch", "inherited", "mflops"}``."""
    from threadpoolctl import threadpool_limits

    from nas import runner, search_config
    from nas import strategies as S
    from nas.free import build_free
    from nas.objectives import objective_vector, total_violation
    from supernet.evaluation import evaluate

    raw = {
        "space": study.s["space"],
        "evaluators": [{"kind": "supernet", "workdir": str(workdir)}, {"kind": "complexity"}],
        "objectives": [{"metric": study.metric, "goal": "min" if study.lower_better else "max"}],
        "constraints": [f"flops <= {bound!r}"],
        "budget": study.s["search_budget"],
        "seed": seed,
    }
    cfg = search_config.check(raw)
    pool, prefilter = runner.build_pool(cfg), runner.build_prefilter(cfg)
    free = build_free(cfg.evaluators, cfg.objectives, cfg.space)
    seen: dict = {}

    def evaluate_archs(archs):
        new = [a for a in dict.fromkeys(archs) if a not in seen]
        if new:
            flops = complexity(study.space, new)["flops"]
            for a, m, f in zip(new, evaluate(study.space, params(), new, study.val), flops, strict=True):
                seen[a] = {**m, "flops": float(f)}
        rows = [seen[a] for a in archs]
        F = np.array([objective_vector(m, cfg.objectives) for m in rows])
        return F, np.array([total_violation(m, cfg.constraints) for m in rows])

    picks = {}
    for label, name, opts in (("default", cfg.strategy, cfg.strategy_options), ("random", "random", {})):
        strategy = S.make(name, cfg.space, pool=pool, prefilter=prefilter, free=free, **opts)
        with threadpool_limits(1):
            state = S.run_sequential(strategy, evaluate_archs, budget=cfg.budget, seed=cfg.seed, lag=2)
        F, v = np.asarray(state.F)[:, 0], np.asarray(state.violation)
        ok = np.flatnonzero(v <= 0)
        best = ok[np.argmin(F[ok])]  # F is sign * metric: lower is better
        arch = study.space.parse(state.told[best])
        picks[label] = {
            "strategy": name,
            "arch": arch.to_dict(),
            "inherited": seen[arch][study.metric],
            "mflops": seen[arch]["flops"] / 1e6,
            "feasible_evaluations": int(len(ok)),
        }
    return {"bound_mflops": bound / 1e6, "strategy": cfg.strategy, "evaluations": cfg.budget, "seed": seed,
            "picks": picks}
