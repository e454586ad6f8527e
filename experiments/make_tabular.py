"""Writes the synthetic tabular benchmark ``experiments/data/tabular_toy.jsonl``.

    python -m experiments.make_tabular [--rows 2000] [--seed 0] [--out PATH]

The rows are ``--rows`` distinct architectures drawn (seeded) from the
user-declared space ``experiments/tabular_toy_space.yaml``.  ``params``,
``flops``, ``macs`` and ``act_bytes`` are exact (the closed-form complexity
model).  ``accuracy`` is SYNTHETIC, not measured: a saturating function of
log-MACs (bigger models are better, with diminishing returns), minus 0.4
points per linear-attention layer, plus 0.3 points per extra layer of depth,
plus seeded Gaussian noise (sd 0.3 points) keyed by the architecture.  It
gives a honest, reproducible accuracy/size trade-off with a known true Pareto
front, so that search strategies can be compared without training anything.
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np

from search_spaces import complexity, load_space_file

HERE = Path(__file__).resolve().parent
SPACE_FILE = HERE / "tabular_toy_space.yaml"
TABLE_FILE = HERE / "data" / "tabular_toy.jsonl"


def synthetic_accuracy(space, archs) -> np.ndarray:
    c = complexity(space, archs)
    x = np.log(c["macs"]) - np.log(c["macs"].min())
    base = 0.985 - 0.35 * np.exp(-x / 1.6)
    linear = np.array([sum(a == "linear" for a in arch.attn_type) for arch in archs])
    depth = np.array([arch.depth for arch in archs])
    noise = np.array([np.random.default_rng(zlib.crc32(a.to_json().encode())).normal() for a in archs])
    return np.clip(base - 0.004 * linear + 0.003 * (depth - 1) + 0.003 * noise, 0.0, 1.0)


def make_rows(rows: int = 2000, seed: int = 0) -> list[dict]:
    space = load_space_file(SPACE_FILE)
    rng = np.random.default_rng(seed)
    archs: dict[str, object] = {}
    while len(archs) < rows:
        a = space.sample(rng)
        archs.setdefault(a.to_json(), a)
    archs = list(archs.values())
    c = complexity(space, archs)
    acc = synthetic_accuracy(space, archs)
    return [
        {
            "arch": a.to_dict(),
            "metrics": {
                "accuracy": round(float(acc[i]), 6),
                **{k: float(c[k][i]) for k in ("params", "flops", "macs", "act_bytes")},
            },
        }
        for i, a in enumerate(archs)
    ]


def write(path: str | Path = TABLE_FILE, *, rows: int = 2000, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in make_rows(rows, seed)))
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(TABLE_FILE))
    a = p.parse_args()
    print(write(a.out, rows=a.rows, seed=a.seed))


if __name__ == "__main__":
    main()
