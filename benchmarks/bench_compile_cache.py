"""What the persistent XLA compilation cache saves (supernet/cache.py).

    python benchmarks/bench_compile_cache.py            # 2 pairs of runs
    python benchmarks/bench_compile_cache.py --pairs 3 --config experiments/train_tiny.yaml

Times ``nas train CONFIG`` as a fresh process with a cache folder that is empty (cold:
compiles everything and fills it) and then with the same folder (warm: loads the
programs), into fresh work directories each time, and prints the warm / cold ratio of
the wall times measured in the same run (this machine is shared and noisy), and the
cache's size.  The README's figure comes from here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _train(config: Path, workdir: Path, cache: Path) -> float:
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nas", "train", str(config), "--workdir", str(workdir), "--quiet"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "experiments/train_tiny.yaml")
    ap.add_argument("--pairs", type=int, default=2)
    args = ap.parse_args()
    cold, warm, size = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            cache = Path(tmp) / f"cache{i}"
            cold.append(_train(args.config, Path(tmp) / f"cold{i}", cache))
            warm.append(_train(args.config, Path(tmp) / f"warm{i}", cache))
            size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    ratios = sorted(w / c for w, c in zip(warm, cold, strict=True))
    print(
        json.dumps(
            {
                "config": str(
                    args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config
                ),
                "cold_s": [round(x, 1) for x in cold],
                "warm_s": [round(x, 1) for x in warm],
                "warm_over_cold_median": round(ratios[len(ratios) // 2], 3),
                "cache_mb": round(size / 2**20, 2),
                "load": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
