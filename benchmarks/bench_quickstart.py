"""How long README's first command takes: ``nas quickstart``, today's flow against an older one.

    python benchmarks/bench_quickstart.py                       # 1 pair, old = the commit below
    python benchmarks/bench_quickstart.py --pairs 2 --old REV --out benchmarks/results/bench_quickstart.txt

Runs ``python -m nas quickstart`` (the default size, as README's command does) from this
working tree ("new") and from a ``git archive`` of ``--old`` ("old"), alternately, each
as a fresh process in a fresh work directory with an empty ``NAS_CACHE`` (a new user's
first run: no compiled programs on disk).  The set-up part of README's command (``pip
install``) is not timed.  For every run it records the wall time, the CPU time (user +
system) of the whole process tree (the driver, Ray's services and workers, measurement
processes: sampled with psutil every 0.2 s, each process's last reading summed), the
same two figures per quickstart step (from the ``[quickstart] k/5`` lines as they
appear), the load average, and the result (architecture, inherited accuracy, measured
latency).  This machine is shared, so each pair's new / old ratios are measured in the
same minutes; the summary gives them per pair and their median.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
OLD = "30f0160"  # main just before issue 34 item 6's changes
STEP = re.compile(r"\[quickstart\] (\d)/5")


class TreeCpu:
    """CPU seconds (user + system) of a process and all its descendants, by polling."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.root, self.every = psutil.Process(pid), every
        self.seen: dict[tuple[int, float], float] = {}
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                t = p.cpu_times()
                key = (p.pid, p.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            with self._lock:
                self.seen[key] = t.user + t.system
        self.loads.append(os.getloadavg()[0])

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            time.sleep(self.every)

    def total(self) -> float:
        self._poll()
        with self._lock:
            return sum(self.seen.values())

    def stop(self) -> float:
        total = self.total()
        self._stop.set()
        self._thread.join()
        return total


def run_quickstart(tree: Path, work: Path, *, cache: Path, label: str) -> dict:
    """One ``nas quickstart`` from ``tree`` into ``work``; wall and CPU in all and per step."""
    env = dict(os.environ, NAS_CACHE=str(cache), PYTHONPATH=str(tree), PYTHONUNBUFFERED="1")
    for k in ("JAX_COMPILATION_CACHE_DIR", "NAS_XLA_CACHE", "JAX_LOG_COMPILES"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "nas", "quickstart", "--workdir", str(work)]
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    cpu = TreeCpu(proc.pid)
    marks: list[tuple[int, float, float]] = [(0, 0.0, 0.0)]  # (step, wall, cpu) when it began
    tail = []
    for line in proc.stdout:  # type: ignore[union-attr]
        tail = (tail + [line])[-40:]
        m = STEP.search(line)
        if m:
            marks.append((int(m.group(1)), time.perf_counter() - start, cpu.total()))
    rc = proc.wait()
    wall = time.perf_counter() - start
    total = cpu.stop()
    if rc != 0:
        raise SystemExit(f"{label}: quickstart exited {rc}:\n{''.join(tail)}")
    marks.append((6, wall, total))
    names = {0: "start-up", 1: "train", 2: "latency", 3: "search", 4: "export", 5: "summary"}
    steps = {
        names[a[0]]: {"wall_s": round(b[1] - a[1], 1), "cpu_s": round(b[2] - a[2], 1)}
        for a, b in zip(marks, marks[1:], strict=False)
    }
    s = json.loads((work / "summary.json").read_text())
    return {
        "flow": label,
        "wall_s": round(wall, 1),
        "cpu_s": round(total, 1),
        "steps": steps,
        "load_1min_start_end_mean": [
            round(load0, 2),
            round(os.getloadavg()[0], 2),
            round(sum(cpu.loads) / max(1, len(cpu.loads)), 2),
        ],
        "result": {
            "arch": s["architecture"],
            "accuracy": s["accuracy"],
            "predicted_ms": s["predicted_ms"],
            "measured_ms": s["measured_ms"],
            "evaluations": s["evaluations"],
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default=OLD, help=f"git revision of the old flow (default {OLD})")
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = ap.parse_args()
    lines = [
        f"# python benchmarks/bench_quickstart.py --old {args.old} --pairs {args.pairs}"
        f"  ({os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average at start {os.getloadavg()[0]:.2f}; cold: empty NAS_CACHE each run)"
    ]
    print(lines[0], flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-qs-") as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.old], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        for i in range(args.pairs):
            order = [("old", old), ("new", ROOT)] if i % 2 == 0 else [("new", ROOT), ("old", old)]
            for label, tree in order:
                r = run_quickstart(
                    tree, Path(tmp) / f"{label}{i}", cache=Path(tmp) / f"cache-{label}{i}", label=label
                )
                r["pair"] = i
                runs.append(r)
                lines.append(json.dumps(r))
                print(lines[-1], flush=True)
    pairs = [
        (
            {r["flow"]: r for r in runs if r["pair"] == i}["new"],
            {r["flow"]: r for r in runs if r["pair"] == i}["old"],
        )
        for i in range(args.pairs)
    ]
    wall = sorted(n["wall_s"] / o["wall_s"] for n, o in pairs)
    cpu = sorted(n["cpu_s"] / o["cpu_s"] for n, o in pairs)
    summary = {
        "new_wall_s": [n["wall_s"] for n, _ in pairs],
        "old_wall_s": [o["wall_s"] for _, o in pairs],
        "new_cpu_s": [n["cpu_s"] for n, _ in pairs],
        "old_cpu_s": [o["cpu_s"] for _, o in pairs],
        "wall_ratio_new_over_old": [round(x, 3) for x in wall],
        "cpu_ratio_new_over_old": [round(x, 3) for x in cpu],
        "median_wall_ratio": round(wall[len(wall) // 2], 3),
        "median_cpu_ratio": round(cpu[len(cpu) // 2], 3),
        "same_result": all(n["result"]["arch"] == o["result"]["arch"] for n, o in pairs),
    }
    lines.append(json.dumps(summary, indent=1))
    print(lines[-1], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
