"""Fidelity study: does the supernet rank subnets as stand-alone training does?

    python experiments/fidelity_study.py --space lm-shakespeare        # the study's preset (hours, resumable)
    python experiments/fidelity_study.py --space vit-mnist
    python experiments/fidelity_study.py --quick --results /tmp/fs     # the plumbing, in seconds

Per space, ``--subnets`` subnets spread evenly over the FLOPs range of the space's
distinct subnets (the same set for every recipe) are trained stand-alone from scratch
(:func:`experiments.fidelity_units.train_standalone`, seed A); ``--seed-b`` of them, spread
over the same range, again with another seed (initial weights and batch order): their
seed-A-vs-seed-B Kendall tau is the *noise ceiling*, the best agreement any supernet can
be expected to reach.  One supernet per recipe (:func:`recipes`) is trained at **equal
compute**: ``--passes`` subnet forward/backward passes each (a recipe training 3 subnets
a step gets a third of the steps of one training 1), the same initial weights, the same
batches, the same optimizer.  Per recipe: Kendall tau and Spearman rho of inherited vs
stand-alone metric with bootstrap 95 % intervals (:mod:`experiments.fidelity_stats`),
top-25 % precision, the mean inherited-minus-stand-alone gap per FLOPs quartile, and the
training time.  End to end, per recipe and per FLOPs bound (``--bounds`` times the
largest subnet's FLOPs): the default search of ``nas search`` (for one measured objective,
the surrogate-assisted ``bayesian``) and random search, each with ``--search-budget``
inherited evaluations; both picks are trained stand-alone and compared with the best
stand-alone subnet of the spread under the same bound (regret).

Resumable: every finished unit is a JSON file under ``--units/<space>`` (see
:mod:`experiments.fidelity_units`); supernet checkpoints go under ``--workdir``.  Writes
``fidelity_study.{json,md,png}`` into ``--results`` (one section per space, others kept).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

from experiments import fidelity_report, fidelity_search, run_cli  # noqa: E402
from experiments import fidelity_units as U  # noqa: E402
from experiments.sampling_study import passes_per_step, train_sampler  # noqa: E402
from search_spaces import ArchConfig, SearchSpace, complexity, load_space  # noqa: E402
from search_spaces.errors import NasError  # noqa: E402
from supernet import checkpoint, data, tasks  # noqa: E402
from supernet.config import load_config  # noqa: E402
from supernet.evaluation import evaluate  # noqa: E402
from supernet.samplers import make_sampler  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
UNITS = RESULTS / "fidelity_study_units"
# the study's budget per space; --quick: a tiny space and a few steps (tests/test_fidelity_study.py)
PRESETS: dict[str, dict[str, Any]] = {
    "lm-shakespeare": dict(subnets=24, seed_b=12, search_seeds=5, batch=8, seq_len=64, standalone_steps=600,
                           passes=1200, lr=0.002, warmup=30, val_examples=128, search_budget=20),
    "vit-mnist": dict(subnets=24, seed_b=12, search_seeds=5, batch=32, seq_len=None, standalone_steps=200,
                      passes=800, lr=0.002, warmup=20, val_examples=500, search_budget=20),
    "quick": dict(subnets=8, seed_b=4, search_seeds=2, batch=8, seq_len=None, standalone_steps=3, passes=6,
                  lr=0.002, warmup=1, val_examples=64, search_budget=4),
}
QUICK_SPACE = str(ROOT / "experiments" / "spaces" / "vit-tiny.yaml")
FIELDS = tuple(PRESETS["quick"])
# settings that only add units (more seed-B runs, more search seeds): a folder takes any value of them
GROWS = ("seed_b", "search_seeds")
DEFAULT_RECIPES = (
    "uniform,complexity_aware,sandwich_distill,ca_full,ca_adaptive,sandwich,performance_aware,ca_k1,ca_distill"
)


def recipes() -> dict[str, dict[str, Any]]:
    """The recipes the study can compare: a sampler (name, options) and training options."""
    return {
        "uniform": {"sampler": {"name": "uniform", "options": {"k": 1}}},
        "sandwich": {"sampler": {"name": "sandwich", "options": {"k": 1}}},
        "sandwich_distill": {"sampler": {"name": "sandwich", "options": {"k": 1}}, "distill": True},
        # the current default of `nas train` (supernet/config.py): complexity_aware, its own defaults
        "complexity_aware": {"sampler": {"name": "complexity_aware", "options": {}}},
        # the same walk training one subnet a step (one random in-bin subnet, not the bin's smallest
        # beside it): at equal passes, 3x the optimizer steps of the default's 3 subnets a step, as
        # uniform gets; separates the walk's effect from the step count
        "ca_k1": {"sampler": {"name": "complexity_aware", "options": {"k": 1, "include_smallest": False}}},
        "performance_aware": {"sampler": {"name": "performance_aware", "options": {}}},
        # issue 21's recipes (supernet/complexity_sampling.py, supernet/bin_walk.py): ShiftNAS-style
        # adaptive bin probabilities; ElasticViT's full recipe (extremes in every step, the largest
        # as the in-place distillation teacher) with them
        "ca_adaptive": {"sampler": {"name": "complexity_aware", "options": {"adaptive": True}}},
        "ca_full": {
            "sampler": {"name": "complexity_aware", "options": {"include_extremes": True, "adaptive": True}},
            "distill": True,
        },
        # the default walk with in-place distillation from the largest subnet (the teacher's pass
        # counted): distillation lifted sandwich's tau most on the LM, so the default gets it too
        "ca_distill": {"sampler": {"name": "complexity_aware", "options": {}}, "distill": True},
    }


def parse_recipes(text: str) -> list[str]:
    known = recipes()
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise NasError(f"field '--samplers' is {text!r}; choose a comma list of {list(known)}")
    return list(dict.fromkeys(names))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", default="lm-shakespeare", help="a built-in space with a preset, or a space YAML")
    ap.add_argument("--quick", action="store_true", help="tiny space, a few steps: checks the plumbing")
    ap.add_argument("--samplers", default=DEFAULT_RECIPES, help="comma list of recipes (see recipes())")
    ap.add_argument(
        "--stages", default="standalone,supernet,search", help="what to run before the report ('report': nothing)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bounds", default="0.25,0.5", help="FLOPs bounds as fractions of the largest subnet's "
                    "(--quick: 0.6,0.8)")
    for f in FIELDS:
        ap.add_argument(f"--{f.replace('_', '-')}", type=int if f not in ("lr",) else float, default=None)
    ap.add_argument("--units", default=str(UNITS), help="folder of the finished units (one per space)")
    ap.add_argument("--workdir", default="/tmp/nas-fidelity-study", help="supernet checkpoints")
    ap.add_argument("--results", default=str(RESULTS), help="folder for the json, md and png")
    return ap


def _preset(args: argparse.Namespace) -> dict[str, Any]:
    """The budget preset of ``--space`` (a space without one takes vit-mnist's), or ``--quick``'s."""
    return PRESETS["quick" if args.quick else args.space if args.space in PRESETS else "vit-mnist"]


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The study's configuration: the preset of ``--space`` (or ``--quick``) with the flags given."""
    space = QUICK_SPACE if args.quick else args.space
    preset = _preset(args)
    cfg = {f: getattr(args, f) if getattr(args, f) is not None else preset[f] for f in FIELDS}
    text = "0.6,0.8" if args.quick and args.bounds == "0.25,0.5" else args.bounds
    try:
        bounds = [float(b) for b in text.split(",") if b.strip()]
    except ValueError:
        bounds = []
    if not bounds or not all(0 < b <= 1 for b in bounds):
        raise NasError(f"field '--bounds' is {args.bounds!r}; give fractions in (0, 1] like 0.25,0.5")
    return {"space": space, "seed": args.seed, "bounds": bounds, **cfg}


def check_budget(s: dict[str, Any]) -> None:
    """One-line errors for a budget that cannot hold the study's smallest piece of work."""
    for f in ("subnets", "batch", "standalone_steps", "passes", "val_examples", "search_budget", "search_seeds"):
        if s[f] < 1:
            raise NasError(f"field '--{f.replace('_', '-')}' is {s[f]}: must be >= 1")
    if s["standalone_steps"] <= s["warmup"]:
        raise NasError(
            f"field '--standalone-steps' is {s['standalone_steps']}: a stand-alone run must outlast its "
            f"warm-up (--warmup {s['warmup']})"
        )
    if s["passes"] < s["standalone_steps"]:
        raise NasError(
            f"field '--passes' is {s['passes']}: the supernet budget cannot hold one stand-alone run "
            f"({s['standalone_steps']} passes)"
        )
    if not 2 <= s["seed_b"] <= s["subnets"]:
        raise NasError(f"field '--seed-b' is {s['seed_b']}: must be in [2, --subnets {s['subnets']}]")
    if s["subnets"] < 4:
        raise NasError(f"field '--subnets' is {s['subnets']}: the FLOPs quartiles need at least 4")


def buildable(name: str):
    """The space and its task kind, or a one-line error naming ``--space``."""
    try:
        space = load_space(name)
        task = tasks.get(space)
        task.metrics(0.0, 0.0)
    except NasError as e:
        raise NasError(f"field '--space' is {name!r}: no buildable space and task ({e})") from None
    return space, task


def spread(space: SearchSpace, n: int, seed: int, pool_size: int = 4000) -> list[ArchConfig]:
    """``n`` distinct subnets evenly spaced over the FLOPs order of a seeded sample of distinct ones."""
    pool = list(dict.fromkeys(space.sample_many(seed, pool_size)))
    if len(pool) < n:
        raise NasError(
            f"field '--subnets' is {n}: space '{space.name}' gave only {len(pool)} distinct candidate subnets"
        )
    flops = complexity(space, pool)["flops"]
    order = np.argsort(flops, kind="stable")
    return [pool[i] for i in order[np.linspace(0, len(pool) - 1, n).round().astype(int)]]


def seed_b_index(n: int, k: int, first: int = 6) -> list[int]:
    """The ``k`` subnets (of ``n``, in FLOPs order) trained again with seed B: up to ``first`` evenly
    spaced, then the midpoint of the widest gap, one at a time.  Nested from ``first`` on: raising
    ``k`` keeps every subnet a smaller ``k`` chose, so a folder's finished seed-B runs stay in the
    ceiling."""
    out = np.linspace(0, n - 1, min(k, first)).round().astype(int).tolist()
    while len(out) < k:
        s = sorted(out)
        lo, hi = max(zip(s[:-1], s[1:], strict=True), key=lambda g: (g[1] - g[0], -g[0]))
        if hi - lo < 2:
            break
        out.append((lo + hi) // 2)
    return sorted(out)


class Study:
    """One space's study: its settings, data, subnets and unit folder."""

    def __init__(self, s: dict[str, Any], args: argparse.Namespace, log=print) -> None:
        check_budget(s)
        self.s, self.log = s, log
        self.space, self.task = buildable(s["space"])
        self.metric = "accuracy" if "accuracy" in self.task.metrics(0.0, 0.0) else "perplexity"
        self.lower_better = self.metric != "accuracy"
        self.subnets = spread(self.space, s["subnets"], s["seed"])
        low, high = complexity(self.space, [self.space.smallest(), self.space.largest()])["flops"]
        if min(s["bounds"]) * high < low:
            raise NasError(
                f"field '--bounds' is {min(s['bounds'])}: below the smallest subnet's FLOPs "
                f"({low / high:.3f} of the largest's)"
            )
        self.folder = Path(args.units) / self.space.name
        # after every check: refusals write nothing
        U.claim(self.folder, {**s, "space_def": self.space.to_dict()}, grows=GROWS)
        self.workdir = Path(args.workdir) / self.space.name
        self.data_cfg = {"seq_len": s["seq_len"]} if s["seq_len"] else {}
        self.ds = data.load(self.space, self.data_cfg)
        self.val = data.val_batches(self.ds, batch_size=min(64, s["val_examples"]), max_examples=s["val_examples"])
        self.flops = complexity(self.space, self.subnets)["flops"]
        self.b_index = seed_b_index(s["subnets"], s["seed_b"])

    # ---- stand-alone ------------------------------------------------------------------
    def standalone(self, arch: ArchConfig, which: str = "A") -> dict:
        seed = self.s["seed"] + (0 if which == "A" else 1000)
        s = self.s

        def make() -> dict:
            out = U.train_standalone(
                self.space, arch, steps=s["standalone_steps"], batch=s["batch"], lr=s["lr"],
                warmup=s["warmup"], seed=seed, ds=self.ds, val=self.val,
            )
            return {"arch": arch.to_dict(), "seed": seed, **out}

        return U.unit(self.folder / "standalone" / f"{U.digest(arch.to_dict())}-{which}.json", make, log=self.log)

    def order(self) -> list[int]:
        """Subnet indices farthest-first over the FLOPs order (0, n-1, the middle, ...), so that
        the subnets finished at any moment span the whole range (a killed study reports them)."""
        n = len(self.subnets)
        out, intervals = [0, n - 1], [(0, n - 1)]
        for lo, hi in intervals:  # breadth first: the midpoint of every gap, widest gaps first
            if hi - lo >= 2:
                mid = (lo + hi) // 2
                out.append(mid)
                intervals += [(lo, mid), (mid, hi)]
        return out

    def standalone_all(self) -> None:
        for i in self.order():  # seed B right after seed A: the same compiled programs
            self.standalone(self.subnets[i], "A")
            if i in self.b_index:
                self.standalone(self.subnets[i], "B")

    # ---- supernets ----------------------------------------------------------------------
    def train_config(self, label: str) -> dict:
        """The supernet config of recipe ``label`` at ``--passes`` subnet passes."""
        r = recipes()[label]
        per_step = self.passes_per_step(r)
        steps = max(1, self.s["passes"] // per_step)
        s = self.s
        cfg = load_config(None, [
            f"seed={s['seed']}", f"steps={steps}", f"batch_size={s['batch']}", f"learning_rate={s['lr']}",
            f"warmup_steps={min(s['warmup'], steps - 1)}", f"checkpoint_every={max(1, min(100, steps))}",
            "log_every=1", f"eval_batch_size={min(64, s['val_examples'])}", f"eval_max_examples={s['val_examples']}",
        ])
        cfg.update(space=s["space"], sampler={**cfg["sampler"], **r["sampler"]}, data=self.data_cfg)
        cfg["distill"] = bool(r.get("distill", False))
        return cfg

    def passes_per_step(self, recipe: dict, steps: int = 50) -> int:
        """Subnet passes a step of the recipe makes (its subnets, and the distillation teacher when
        the largest is not among them), the mean over a seeded sampler's first ``steps``, rounded:
        a walk that sometimes draws the largest subnet needs no extra teacher pass then."""
        import jax

        opts = dict(recipe["sampler"].get("options") or {})
        sampler = make_sampler(recipe["sampler"]["name"], self.space, run_steps=1000, **opts)
        state, total = sampler.init(jax.random.key(0)), 0
        for step in range(steps):
            archs, state = sampler.sample(jax.random.fold_in(jax.random.key(0), step), state, step)
            total += len(archs) + (1 if recipe.get("distill") and archs[0] != self.space.largest() else 0)
        return max(1, round(total / steps))

    def supernet(self, label: str) -> tuple[dict, Path]:
        cfg = self.train_config(label)
        workdir = self.workdir / f"{label}-{U.digest(cfg)}"

        def make() -> dict:
            timing = train_sampler(cfg, workdir)
            passes = passes_per_step(workdir)
            return {
                "recipe": recipes()[label], "steps": cfg["steps"], "passes_per_step": sorted(set(passes)),
                "total_passes": int(sum(passes)), "train_s": timing["train_s"],
                "resumed_from_step": timing["resumed_from_step"],
            }

        return U.unit(self.folder / "supernet" / f"{label}.json", make, log=self.log), workdir

    def inherited(self, label: str, workdir: Path, params) -> dict:
        def make() -> dict:
            rows = evaluate(self.space, params(), self.subnets, self.val)
            return {"metrics": rows, "workdir": str(workdir)}

        return U.unit(self.folder / "inherited" / f"{label}.json", make, log=self.log)

    def run_recipe(self, label: str, stages: set[str]) -> None:
        rec, workdir = self.supernet(label)
        cache: dict = {}

        def params():
            if "p" not in cache:
                if not (workdir / checkpoint.CKPT_DIR).is_dir():  # a new machine: retrain (deterministic)
                    train_sampler(self.train_config(label), workdir)
                cache["p"] = checkpoint.load(workdir)[1]
            return cache["p"]

        self.inherited(label, workdir, params)
        if "search" not in stages:
            return
        largest = float(complexity(self.space, [self.space.largest()])["flops"][0])
        for k in range(self.s["search_seeds"]):  # seed 0 first, for every bound: more seeds add to it
            for b in self.s["bounds"]:
                path = self.folder / "search" / fidelity_search.unit_name(label, b, k)
                found = U.unit(path, lambda b=b, k=k: fidelity_search.searches(
                    self, params, bound=b * largest, workdir=workdir, seed=self.s["seed"] + k), log=self.log)
                for pick in found["picks"].values():
                    self.standalone(self.space.parse(pick["arch"]), "A")

    # ---- the report ---------------------------------------------------------------------
    def report(self, labels: Sequence[str]) -> dict:
        """Every figure of the space from the finished units (missing units are reported as pending)."""
        return fidelity_report.space_section(self, labels)


def flags(s: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The command-line flags besides --space/--quick and --samplers that made these results: the
    settings that differ from the space's preset, and the unit and result folders if not the default."""
    preset = _preset(args)
    out = [f"--{f.replace('_', '-')} {s[f]}" for f in FIELDS if s[f] != preset[f]]
    out += [f"--seed {s['seed']}"] if s["seed"] != 0 else []
    out += [] if args.bounds == "0.25,0.5" else [f"--bounds {args.bounds}"]
    for flag, value, default in (("--units", args.units, UNITS), ("--results", args.results, RESULTS)):
        path = Path(value).resolve()
        if path != default.resolve():
            out.append(f"{flag} {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return out


def run(args: argparse.Namespace) -> dict:
    t0 = time.time()
    s = settings(args)
    labels = parse_recipes(args.samplers)
    stages = {x.strip() for x in args.stages.split(",") if x.strip()}
    if not stages <= {"standalone", "supernet", "search", "report"}:
        raise NasError(f"field '--stages' is {args.stages!r}; choose from standalone,supernet,search,report")
    study = Study(s, args)
    if "standalone" in stages:
        study.standalone_all()
    if stages & {"supernet", "search"}:
        for label in labels:
            study.run_recipe(label, stages)
    section = study.report(labels)
    partial = "supernet" in stages and "search" not in stages  # a study without its searches says so
    section["flags"] = flags(s, args) + ([f"--stages {args.stages}"] if partial else [])
    section["wall_s_this_invocation"] = round(time.time() - t0, 1)
    return fidelity_report.write(section, Path(args.results), args=args)


def main(argv: Sequence[str] | None = None) -> dict:
    from supernet.cache import enable_compile_cache

    enable_compile_cache()  # the recipes' supernets compile the same programs: share them on disk
    return run_cli(build_parser, run, argv)


if __name__ == "__main__":
    main()
