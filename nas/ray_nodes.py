"""Where a search's workers run: one pinned core each, and what Ray says about its nodes
(lost nodes, resources, Ray's own errors) in the search's words.

Used by :mod:`nas.ray_workers` to name a node lost mid-search in one line and to keep the
errors Ray pushes to every driver out of the search's progress output.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import Mapping

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


_RAY_PRINT = None


def mute_ray_errors(mute: bool) -> None:
    """Keeps the errors Ray pushes to every driver out of the search's output, or lets them in again.

    ``log_to_driver=False`` silences the workers' output, but a driver still prints every error
    the cluster publishes (a raylet's death with the last 20 lines of its log, ``[state-dump]``
    tables among them; a node marked dead) on stdout, through the thread Ray runs in every
    driver (``listen_error_messages`` calls ``ray._private.worker.print_to_stdstream``).  The
    search says what matters in one line of its own (:meth:`RayExecutor._drop_unplaced`); Ray's
    messages stay in the cluster's session logs (``/tmp/ray/session_latest/logs`` on the head).
    """
    global _RAY_PRINT
    from ray._private import worker as ray_worker

    if mute and _RAY_PRINT is None:
        _RAY_PRINT = ray_worker.print_to_stdstream
        ray_worker.print_to_stdstream = lambda data, ignore_prefix: None
    elif not mute and _RAY_PRINT is not None:
        ray_worker.print_to_stdstream, _RAY_PRINT = _RAY_PRINT, None


def resources(res: Mapping[str, float]) -> str:
    """``{CPU: 1}``: the resources Ray counts, without its per-node and memory entries."""
    shown = {k: v for k, v in res.items() if not k.startswith("node:") and "memory" not in k}
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(shown.items())) + "}"


def lost(alive_at_start: set[str]) -> str:
    """``node 127.0.0.1 (3f2a1c9b) lost (<Ray's reason>); `` for every node in ``alive_at_start``
    that Ray now reports dead (from ``ray.nodes()``), or nothing."""
    out = []
    for n in ray.nodes():
        if n["NodeID"] in alive_at_start and not n["Alive"]:
            why = str(n.get("DeathReasonMessage") or "").strip().splitlines()
            out.append(
                f"node {n.get('NodeManagerAddress', '?')} ({n['NodeID'][:8]}) lost"
                + (f" ({why[0]})" if why else "")
            )
    return "".join(f"{x}; " for x in out)


def cluster_cpus() -> int:
    return int(ray.cluster_resources().get("CPU", 1))
