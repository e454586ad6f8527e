"""A node lost while Ray Train trains (``nas train --workers N``): named in one line, and a run
the cluster can no longer hold stopped with one line instead of waiting for ever.

Ray Train restarts the worker group when a worker dies (``FailureConfig``), its node's death
included, and the new group resumes from the run's last checkpoint; but when the lost node's
resources are gone for good, the new group waits for them without a word.  :class:`NodeWatch`
(a daemon thread of the driver) polls ``ray.nodes()``: every node that dies after the start
is one line on stderr, and when the alive nodes have fewer resources in all than the workers
ask for (``ScalingConfig.total_resources``) for ``placement_timeout`` seconds, the driver stops
with one line (exit 2); the checkpoints stay in the workdir, so the same command resumes once
the cluster has room again.  It ends the driver itself (``os._exit``: no worker runs then, the
group waits to be placed): interrupting ``trainer.fit()`` goes through Ray Train's SIGINT
handler, whose graceful abort waited for minutes on a loaded machine; the job's actors go with
the driver.  The decisions are
pure functions of ``ray.nodes()`` records (:func:`newly_lost`, :func:`shortfall`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, Mapping, Sequence


def newly_lost(nodes: Sequence[Mapping[str, Any]], alive_at_start: set[str], told: set[str]) -> list[str]:
    """``node IP (ID8) lost (Ray's reason)`` for each node of ``alive_at_start`` that ``nodes``
    (``ray.nodes()`` records) shows dead and that is not in ``told`` (which it extends)."""
    out = []
    for n in nodes:
        nid = n["NodeID"]
        if nid in alive_at_start and not n["Alive"] and nid not in told:
            told.add(nid)
            why = str(n.get("DeathReasonMessage") or "").strip().splitlines()
            out.append(
                f"node {n.get('NodeManagerAddress', '?')} ({nid[:8]}) lost" + (f" ({why[0]})" if why else "")
            )
    return out


def shortfall(
    nodes: Sequence[Mapping[str, Any]], asked: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """``{resource: (asked, alive nodes' total)}`` for each resource the workers ask for more of
    than the alive nodes have in all; ``{}`` when they fit."""
    total: dict[str, float] = {}
    for n in nodes:
        if n["Alive"]:
            for k, v in (n.get("Resources") or {}).items():
                total[k] = total.get(k, 0.0) + float(v)
    return {k: (float(v), total.get(k, 0.0)) for k, v in asked.items() if float(v) > total.get(k, 0.0)}


def stop_line(
    lost: list[str], workers: int, short: Mapping[str, tuple[float, float]], waited_s: float, workdir: str
) -> str:
    """The one line a run stops with when the cluster can no longer hold its workers."""
    asked = ", ".join(f"{k} {a:g}" for k, (a, _) in short.items())
    has = ", ".join(f"{k} {h:g}" for k, (_, h) in short.items())
    return (
        f"{'; '.join(lost) or 'a node was lost'}: the {workers} training workers ask for {asked} in all, "
        f"the alive nodes have {has} (waited {waited_s:g} s): training stops, its checkpoints kept in "
        f"'{workdir}' (run the same command again to resume once the cluster has room)"
    )


class NodeWatch:
    """The driver's watch over the cluster's nodes while ``trainer.fit()`` runs (see the module)."""

    def __init__(
        self,
        *,
        workers: int,
        asked: Mapping[str, float],
        workdir: str,
        placement_timeout: float,
        poll_s: float = 1.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        import ray

        self.workers, self.asked, self.workdir = workers, dict(asked), workdir
        self.placement_timeout, self.poll_s = placement_timeout, poll_s
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.alive_at_start = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        self.lost: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nas-node-watch", daemon=True)

    def __enter__(self) -> NodeWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()

    def _run(self) -> None:
        import ray

        told: set[str] = set()
        short_since = None
        while not self._done.wait(self.poll_s):
            try:
                nodes = ray.nodes()
            except Exception:  # noqa: BLE001 - the GCS busy or going away: look again later
                continue
            for line in newly_lost(nodes, self.alive_at_start, told):
                self.lost.append(line)
                self.say(
                    f"{line}; Ray Train restarts the workers from the last checkpoint where the cluster holds them"
                )
            short = shortfall(nodes, self.asked)
            if not short:
                short_since = None
                continue
            short_since = short_since or time.monotonic()
            waited = time.monotonic() - short_since
            if waited >= self.placement_timeout and not self._done.is_set():
                sys.stdout.flush()
                self.say("error: " + stop_line(self.lost, self.workers, short, round(waited), self.workdir))
                os._exit(2)
