"""Proxy search study: do zero-cost proxies make the Bayesian search find a better front?

    taskset -c 1 python experiments/proxy_search_study.py                 # resumable, per-run cache
    python experiments/proxy_search_study.py --problems hwgpt-l --seeds 3 # a subset
    python experiments/proxy_search_study.py --report-only                # from the cached runs
    python experiments/proxy_search_study.py --report-only --code-version bb9be33083f3  # the committed figures

Item 4 of the proxy issue, measured as item 5 asks: the hypervolume of the front found after
25 and 50 evaluations (as a fraction of the exact front's, reference fixed by the table as in
``experiments/search_study.py``), mean over seeds with a 95 % t-interval, and each variant's
paired difference (same seeds) against ``bayesian`` without proxies.  Variants:

* ``random``: uniform rows;
* ``bayesian``: the default Bayesian search (GP, EHVI), no proxies;
* ``+feature``: the proxies are surrogate inputs (``proxies: {names, feature: true}``);
* ``+prescreen4``: only the best quarter of the candidates by proxy are scored
  (``feature: false, prescreen: 4``);
* ``+both``: both.

Data someone measured, looked up as tables (no training here), with proxies computed on the
architectures at initialization:

* ``hwgpt-m`` / ``hwgpt-l``: the HW-GPT-Bench tables (``/work/shared/data/hwgpt/``; minimize
  perplexity and params, params free), every row a candidate.  Proxies: ``nonembed_params``
  and ``flops`` at GPT-2's geometry (closed form, every row).  Reduction, stated: the data
  proxies would need the 24-36-layer supernet at initialization for every one of the 5,245
  rows; they were too slow for this shared 2-core machine, so the HW-GPT-Bench runs test the
  complexity proxies only (LiteTransformerSearch's ``nonembed_params`` is the one the
  literature reports to rank GPT-2 decoders);
* ``vit-mnist``: the fidelity study's stand-alone subnets trained with seed A (55 rows;
  maximize accuracy, minimize params, params free).  Proxy: ``head_confidence``, read from the
  proxy study's units (``experiments/results/proxy_study_units/vit-mnist``): the proxy that
  study found best on these rows, so this is an optimistic case (chosen on the same data).
  Budgets 15 and 25 (50 would be almost the whole table; the first 10 are the initial design).

Each run (problem, variant, seed) is cached under ``--cache`` as it finishes (keyed by a hash of
the strategy code), so a killed study resumes.  Writes ``experiments/results/proxy_search_study.{md,json}``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "experiments" / "results"
CACHE = ROOT / "runs" / "proxy_search_study_cache"
PROXIES = {"hwgpt-m": ["nonembed_params", "flops"], "hwgpt-l": ["nonembed_params", "flops"],
           "vit-mnist": ["head_confidence"]}  # fmt: skip
BUDGETS = {"hwgpt-m": (25, 50), "hwgpt-l": (25, 50), "vit-mnist": (15, 25)}
VARIANTS = {
    "random": None,
    "bayesian": None,
    "+feature": {"feature": True, "prescreen": 1},
    "+prescreen4": {"feature": False, "prescreen": 4},
    "+both": {"feature": True, "prescreen": 4},
}


def hwgpt_problem(which: str) -> dict:
    from experiments.proxy_study import hwgpt_space
    from experiments.search_study import problem
    from search_spaces import ArchConfig
    from supernet.proxies import complexity

    p = problem(f"experiments/search_hwgpt_{which}.yaml")
    archs = p["pool"]
    gpt2 = hwgpt_space(which, probe=False)
    cols = complexity.values(
        gpt2, [ArchConfig.from_json(a.to_json()) for a in archs], PROXIES[f"hwgpt-{which}"]
    )
    p["proxy"] = {a.to_json(): {k: float(v[i]) for k, v in cols.items()} for i, a in enumerate(archs)}
    return p


def vit_problem() -> dict:
    from nas.objectives import hypervolume, pareto_mask
    from nas.strategies import Free
    from search_spaces import load_space

    space = load_space("vit-mnist")
    units = ROOT / "experiments/results/proxy_study_units/vit-mnist"
    truth = ROOT / "experiments/results/fidelity_study_units/vit-mnist/standalone"
    rows = {}
    for f in sorted(truth.glob("*-A.json")):
        d = json.loads(f.read_text())
        u = units / f"{f.stem[:-2]}.json"
        if u.is_file():
            rows[space.parse(d["arch"]).to_json()] = (
                float(d["accuracy"]),
                json.loads(u.read_text())["values"],
            )
    keys = sorted(rows)
    pool = [space.parse(json.loads(k)) for k in keys]
    F = np.array([[-rows[k][0], rows[k][1]["params"]] for k in keys])
    index = {k: i for i, k in enumerate(keys)}
    worst, best = F.max(0), F.min(0)
    ref = worst + 1e-4 * np.maximum(worst - best, 1e-12)

    def evaluate(archs):
        i = [index[a.to_json()] for a in archs]
        return F[i], np.zeros(len(i))

    def free_fn(archs):
        out = np.full((len(archs), 2), np.nan)
        out[:, 1] = [rows[a.to_json()][1]["params"] for a in archs]
        return out

    front = F[pareto_mask(F)]
    return {"cfg": None, "space": space, "pool": pool, "prefilter": None, "free": Free(free_fn, (False, True)),
            "evaluate": evaluate, "ref": ref, "front_hv": hypervolume(front, ref), "front_size": len(front),
            "rows": len(keys), "proxy": {k: rows[k][1] for k in keys}}  # fmt: skip


CODE_VERSION: str | None = None  # --code-version: reuse runs cached by an earlier code


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the strategy code when the study started (a cached run is reused only by it)."""
    if CODE_VERSION:
        return CODE_VERSION
    d = ROOT / "nas" / "strategies"
    files = sorted(d.glob("*.py")) + [ROOT / "nas" / "objectives.py"]
    return hashlib.sha1(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]


def one_run(p: dict, name: str, variant: str, seed: int, budget: int, cache: Path) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    from experiments.search_study import hv_curve
    from nas import strategies as S
    from nas.strategies.proxy_guide import ProxyGuide, cached

    path = cache / code_version() / f"{name}__{variant}__{seed}__{budget}.json"
    if path.exists():
        return np.asarray(json.loads(path.read_text())["curve"])
    t0 = time.perf_counter()
    space = p["cfg"].space if p["cfg"] is not None else p["space"]
    opts: dict = {}
    spec = VARIANTS[variant]
    if spec is not None:
        names = tuple(PROXIES[name])
        table = p["proxy"]
        fn = cached(lambda archs: [table[a.to_json()] for a in archs], names)
        opts["proxies"] = ProxyGuide(fn, names, spec["feature"], spec["prescreen"])
    strat = "random" if variant == "random" else "bayesian"
    s = S.make(strat, space, pool=p["pool"], prefilter=p["prefilter"], free=p["free"], **opts)
    with threadpool_limits(1):
        state = S.run_sequential(s, p["evaluate"], budget=budget, seed=seed, lag=2)
    curve = hv_curve(state, p["ref"], p["front_hv"], budget)
    path.parent.mkdir(parents=True, exist_ok=True)
    secs = round(time.perf_counter() - t0, 2)
    path.write_text(json.dumps({"curve": curve.round(6).tolist(), "seconds": secs}))
    print(f"{name} {variant} seed {seed}: {curve[-1]:.4f} ({secs} s)", flush=True)
    return curve


def interval(x: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval."""
    from scipy.stats import t

    n = len(x)
    half = float(t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(x.mean()), half


def study(problems, seeds: int, cache: Path, report_only: bool) -> dict:
    out: dict = {"seeds": seeds, "strategy_code": code_version(), "problems": {}}
    for name in problems:
        p = vit_problem() if name == "vit-mnist" else hwgpt_problem(name.split("-")[1])
        budgets = BUDGETS[name]
        curves: dict[str, np.ndarray] = {}
        for v in VARIANTS:
            got = []
            for seed in range(seeds):
                path = cache / code_version() / f"{name}__{v}__{seed}__{max(budgets)}.json"
                if report_only and not path.exists():
                    continue
                got.append(one_run(p, name, v, seed, max(budgets), cache))
            if got:
                curves[v] = np.array(got)
        res: dict = {"rows": p["rows"], "front_size": p["front_size"], "proxies": PROXIES[name],
                     "budgets": list(budgets), "variants": {}}  # fmt: skip
        base = curves.get("bayesian")
        for v, c in curves.items():
            at = c[:, [b - 1 for b in budgets]]
            row = {
                "n": len(c),
                "per_seed": at.round(4).tolist(),
                "mean_ci": [interval(at[:, j]) for j in range(len(budgets))],
            }
            if base is not None and v != "bayesian":
                k = min(len(base), len(c))
                d = at[:k] - base[:k][:, [b - 1 for b in budgets]]
                row["vs_bayesian"] = [interval(d[:, j]) for j in range(len(budgets))]
            res["variants"][v] = row
        out["problems"][name] = res
    return out


def markdown(res: dict) -> str:
    lines = [
        "# Proxy search study: zero-cost proxies inside the Bayesian search",
        "",
        "Generated by `python experiments/proxy_search_study.py` (see its docstring for the data and"
        " the reductions). Hypervolume of the front found / the exact front's, mean over seeds ±"
        " the half-width of its 95 % t-interval; `- bayesian`: paired difference (same seeds)"
        " against the Bayesian search without proxies. Table lookups of measured results: the"
        " figures do not depend on the machine's load."
        f" Runs made by the strategy code of hash `{res['strategy_code']}` (`code_version()`).",
        "",
    ]
    for name, r in res["problems"].items():
        b = r["budgets"]
        lines += [
            f"## {name} ({r['rows']} rows, exact front {r['front_size']} points; proxies {', '.join(r['proxies'])})",
            "",
        ]
        lines.append(
            "| variant | seeds | "
            + " | ".join(f"HV @ {x}" for x in b)
            + " | "
            + " | ".join(f"- bayesian @ {x}" for x in b)
            + " |"
        )
        lines.append("|---" * (2 + 2 * len(b)) + "|")
        for v, row in r["variants"].items():
            hv = [f"{m:.3f} ± {h:.3f}" for m, h in row["mean_ci"]]
            dv = [f"{m:+.3f} ± {h:.3f}" for m, h in row.get("vs_bayesian", [])] or ["n/a"] * len(b)
            lines.append(f"| {v} | {row['n']} | " + " | ".join(hv) + " | " + " | ".join(dv) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default="hwgpt-m,hwgpt-l,vit-mnist")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--out", type=Path, default=RESULTS / "proxy_search_study")
    ap.add_argument("--report-only", action="store_true", help="only the runs already cached")
    ap.add_argument("--code-version", help="reuse the runs cached under this strategy-code hash")
    a = ap.parse_args(argv)
    global CODE_VERSION
    CODE_VERSION = a.code_version
    code_version.cache_clear()
    print(f"strategy code {code_version()}", flush=True)
    res = study(a.problems.split(","), a.seeds, a.cache, a.report_only)
    a.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    a.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
