"""Ray evaluation workers: one per core, pinned, evaluators built once.

Two unpinned JAX processes on one machine each run about 2x slower (see
DESIGN.md), so every worker asks Ray for one CPU and pins itself with
``os.sched_setaffinity`` to a core that no other worker of ours on that node
holds.  Cores are claimed with ``flock`` on per-core lock files, released by
the kernel when the worker dies.  The evaluators (a supernet checkpoint load
and compile among them) are built once in ``__init__`` and reused for every
batch.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import ray

LOCK_DIR = Path(tempfile.gettempdir()) / "nas-search-cores"


def claim_core() -> tuple[int | None, object | None]:
    """Pins this process to the first free allowed core; returns (core, lock file)."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for core in cores:
        f = open(LOCK_DIR / f"core{core}.lock", "w")  # noqa: SIM115 - held for the worker's life
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        os.sched_setaffinity(0, {core})
        return core, f
    return None, None  # more workers than cores here: Ray's CPU accounting still caps them


@ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)
class EvalWorker:
    """Holds the built evaluators; ``evaluate`` scores a batch of arch JSON strings."""

    def __init__(self, specs: list[dict], space: dict, sys_path: list[str], pin: bool = True) -> None:
        self.core, self._lock = claim_core() if pin else (None, None)
        for p in reversed(sys_path):
            if p not in sys.path:
                sys.path.insert(0, p)
        from nas import evaluators as E
        from search_spaces import space_from_dict

        self.space = space_from_dict(space)
        self.evaluators = [E.build(s, self.space) for s in specs]
        core = f"core{self.core}" if self.core is not None else "unpinned"
        self.name = f"{socket.gethostname()}:{os.getpid()}:{core}"

    def info(self) -> dict:
        return {"name": self.name, "pid": os.getpid(), "core": self.core}

    def evaluate(self, arch_jsons: list[str]) -> tuple[str, float, list[dict[str, float]]]:
        from nas.evaluators import evaluate_all
        from search_spaces import ArchConfig

        start = time.perf_counter()
        archs = [ArchConfig.from_json(a) for a in arch_jsons]
        metrics = evaluate_all(self.evaluators, archs)
        return self.name, time.perf_counter() - start, metrics
