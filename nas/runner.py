"""The search loop: a strategy proposes, an executor evaluates, results feed back.

The schedule is :mod:`nas.schedule`'s lag rule (proposal ``i`` is asked for
after exactly the first ``i - lag + 1`` results in proposal order were told),
so the result does not depend on timing: the same seed and the same
evaluations give the same proposals, whatever the number of workers or their
speed.  ``lag`` defaults to 2 x workers (two tasks queued per worker, so that
a worker does not idle while the driver handles its last result).

Two executors run the evaluations:

* :class:`nas.ray_workers.RayExecutor`: Ray actors, one pinned core each; a
  worker that dies costs only a retry of its batch on a fresh worker.
* :class:`DriverExecutor`: the driver itself, when every evaluator is cheap
  (complexity, table, latency predictor, a ``callable`` marked ``cheap``) and no
  ``--address`` is given.  Ray is then never started (it costs 5-30 s), and the
  results are the same as on Ray.

Before any evaluation every evaluator is built (or checked) in the driver
(:func:`nas.evaluators.preflight`), so one that cannot be built is one line
naming it, the field and the cause.  What the evaluators read from files (the
supernet's weights and validation data, a fitted predictor, a table) is read
there too, once, and reaches Ray workers through the object store
(:func:`nas.evaluators.payloads`), so no worker reads the driver's paths.

Every result is appended (and fsynced) to ``history.jsonl`` the moment it
arrives (:mod:`nas.run_dir`); ``state.json`` holds the strategy state.
``resume`` replays the strategy against the recorded results (which are not
evaluated again) and carries on, so a killed search reaches the same final
result as an uninterrupted one and loses no finished evaluation.  An
architecture is never evaluated twice (a cache by arch).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

import numpy as np

from nas import evaluators as E
from nas import run_dir as RD
from nas import schedule as S
from nas.free import build_free
from nas.objectives import objective_vector, total_violation
from nas.reference import fixed_reference
from nas.search_config import SearchConfig
from nas.strategies import Prefilter, StrategyState, make
from nas.table import mapping as table_mapping
from nas.terminal import Terminal, check_format
from search_spaces import ArchConfig
from search_spaces.errors import NasError

TASKS_PER_WORKER = 2  # queued on each worker, so that it never idles while the driver answers
read_history = RD.read_history  # kept for callers of the old names
load_run_config = RD.load_config


class SearchResult(NamedTuple):
    run_dir: Path
    records: list[dict]  # every evaluation, in proposal order
    state: StrategyState
    config: SearchConfig


class Executor(Protocol):
    """Evaluates ``(index, arch)`` jobs; ``wait`` returns finished ones as
    ``(index, {metrics, worker, seconds, attempts})``."""

    def submit(self, jobs: list[tuple[int, ArchConfig]]) -> None: ...
    def pending(self) -> int: ...
    def wait(self) -> list[tuple[int, dict]]: ...
    def close(self) -> None: ...


class DriverExecutor:
    """Evaluates in the driver, ``batch_size`` architectures per call, in submission order."""

    def __init__(self, evaluators: list[E.Evaluator], *, batch_size: int = 1) -> None:
        self.evaluators, self.batch_size = evaluators, batch_size
        self.queue: list[tuple[int, ArchConfig]] = []

    def submit(self, jobs: list[tuple[int, ArchConfig]]) -> None:
        self.queue.extend(jobs)

    def pending(self) -> int:
        return len(self.queue)

    def wait(self) -> list[tuple[int, dict]]:
        batch, self.queue = self.queue[: self.batch_size], self.queue[self.batch_size :]
        start = time.perf_counter()
        try:
            metrics = E.evaluate_all(self.evaluators, [a for _, a in batch])
        except NasError:
            raise
        except Exception as e:  # noqa: BLE001 - a user's cheap callable: one line, as on Ray
            raise NasError(
                f"evaluation of {batch[0][1].to_json()} failed: {type(e).__name__}: {E.first_line(e)}"
            ) from None
        seconds = (time.perf_counter() - start) / max(1, len(batch))
        info = {"worker": "driver", "seconds": seconds, "attempts": 1}
        return [(i, dict(info, metrics=m)) for (i, _), m in zip(batch, metrics, strict=True)]

    def close(self) -> None:
        self.queue = []


# ---- pieces built from the config ----------------------------------------------------------
def build_pool(cfg: SearchConfig) -> list[ArchConfig] | None:
    if cfg.pool is None:
        return None
    if cfg.pool == "table":
        specs = [s for s in cfg.evaluators if s["kind"] == "table"]
        return [a for s in specs for a in E.table_archs(s["path"], cfg.space, **table_mapping(s))]
    archs = []
    for n, line in enumerate(Path(cfg.pool).read_text().splitlines(), 1):
        if line.strip():
            try:
                obj = json.loads(line)
                archs.append(cfg.space.parse(obj.get("arch", obj) if isinstance(obj, dict) else obj))
            except (json.JSONDecodeError, NasError, TypeError, ValueError, KeyError) as e:
                raise NasError(f"field 'pool': '{cfg.pool}' line {n}: not an architecture ({e})") from None
    return archs


def build_prefilter(cfg: SearchConfig, built: list[E.Evaluator | None] | None = None) -> Prefilter | None:
    """Constraints on metrics of cheap evaluators, checked before proposing."""
    built = built if built is not None else [None] * len(cfg.evaluators)
    cheap = [(s, b) for s, b in zip(cfg.evaluators, built, strict=True) if E.is_cheap(s)]
    names = {m for s, _ in cheap for m in (E.static_provides(s) or ())}
    cons = [c for c in cfg.constraints if c.metric in names]
    if not cons:
        return None
    wanted = {c.metric for c in cons}
    evs = [b or E.build(s, cfg.space) for s, b in cheap if set(E.static_provides(s) or ()) & wanted]

    def fn(archs):
        metrics = E.evaluate_all(evs, list(archs))
        return np.array([total_violation(m, cons) <= 0 for m in metrics])

    return Prefilter(fn, " and ".join(map(str, cons)))


def runs_in_driver(cfg: SearchConfig, address: str | None) -> bool:
    """Every evaluator cheap and no cluster asked for: no Ray needed."""
    return address is None and all(E.is_cheap(s) for s in cfg.evaluators)


# ---- the search ------------------------------------------------------------------------
def run_search(
    cfg: SearchConfig,
    run_dir: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    progress: bool = True,
    executor: Literal["auto", "driver", "ray"] = "auto",
    log_format: str = "human",
    placement_timeout: float | None = None,
) -> SearchResult:
    """Runs (or, with ``resume``, continues) a search; writes the run directory.

    ``executor``: ``auto`` evaluates in the driver when :func:`runs_in_driver`, else on Ray.
    ``progress``: a bar; ``log_format`` (:mod:`nas.terminal`) ``json``: every result
    (replayed ones too) as the JSON line written to ``history.jsonl``, on stdout.
    ``placement_timeout``: seconds a Ray worker may wait for a node to place it (default
    :data:`nas.ray_workers.PLACEMENT_TIMEOUT`); a worker lost with its node is then given up
    and the search goes on with the others, or, with none left, stops with one line.
    """
    if executor not in ("auto", "driver", "ray"):
        raise NasError(f"executor: expected 'auto', 'driver' or 'ray', got {executor!r}")
    check_format(log_format, field="log_format")
    run_dir = Path(run_dir)
    recorded = RD.read_history(run_dir, budget=cfg.budget) if resume else {}
    if not resume:
        RD.check_fresh(run_dir)
    built = E.preflight(cfg.evaluators, cfg.space)  # an evaluator that cannot be built fails here
    free = build_free(cfg.evaluators, cfg.objectives, cfg.space)  # objectives known before evaluation
    pool = build_pool(cfg)
    strategy = make(
        cfg.strategy,
        cfg.space,
        pool=pool,
        prefilter=build_prefilter(cfg, built),
        free=free,
        **cfg.strategy_options,
    )
    strategy.ask(strategy.init(cfg.seed), 1)  # an empty constraint region fails here, before Ray starts
    in_driver = executor == "driver" or (executor == "auto" and runs_in_driver(cfg, address))
    if in_driver and any(b is None for b in built):
        raise NasError("executor 'driver': the supernet evaluator runs on Ray workers only")
    if resume and len(recorded) >= cfg.budget:  # nothing left to evaluate: replay without Ray
        in_driver = True
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:  # drop a line torn by the kill, so that appends start on a fresh line
        RD.rewrite_history(run_dir, recorded)

    def start(lag: int) -> SearchConfig:
        if resume:
            return cfg
        ref = fixed_reference(cfg, pool)  # written into the run: reports and plots use it
        raw = dict(cfg.raw, lag=lag, hv_reference=ref)
        RD.write_config(run_dir, raw)
        return cfg._replace(raw=raw, lag=lag, hv_reference=ref)

    if in_driver:
        n_workers = workers or cfg.workers or os.cpu_count() or 1  # as a local Ray would have
        run_cfg = start(cfg.lag or 2 * n_workers)
        ex = DriverExecutor([b for b in built if b is not None], batch_size=cfg.batch_size)
        state = _drive(run_cfg, strategy, ex, recorded, run_dir, progress, log_format)
    else:
        from nas import ray_nodes
        from nas import ray_workers as W

        # Read once here (a damaged checkpoint fails before Ray starts); workers get them from
        # Ray's object store, never from the driver's paths.
        payloads = E.payloads(cfg.evaluators, cfg.space, built)
        started = W.start_ray(address, workers or cfg.workers, cfg.evaluators)
        try:
            cpus = ray_nodes.cluster_cpus()
            n_workers = max(1, min(workers or cfg.workers or cpus, cpus))
            run_cfg = start(cfg.lag or 2 * n_workers)
            ex = W.RayExecutor(
                cfg.evaluators,
                cfg.space.to_dict(),
                payloads,
                n_workers=n_workers,
                batch_size=cfg.batch_size,
                per_worker=TASKS_PER_WORKER,
                driver_paths=address is None,
                **({} if placement_timeout is None else {"placement_timeout": placement_timeout}),
            )
            del payloads  # the object store holds them now
            try:
                state = _drive(run_cfg, strategy, ex, recorded, run_dir, progress, log_format)
            finally:
                ex.close()
        finally:
            if started:
                W.stop_ray()
    return SearchResult(run_dir, RD.records(run_dir), state, run_cfg)


class _Progress:
    """The progress bar with the best feasible value of the first objective so far in its
    postfix, and (``json``) every result on stdout."""

    def __init__(self, cfg: SearchConfig, enabled: bool, log_format: str) -> None:
        self.cfg, self.best = cfg, None
        self.term = Terminal(log_format)
        self.bar = self.term.bar(total=cfg.budget, desc=f"search {cfg.strategy}", show=enabled)

    def update(self, rec: dict) -> None:
        first, metrics = self.cfg.objectives[0], rec["metrics"]
        if total_violation(metrics, self.cfg.constraints) <= 0 and first.metric in metrics:
            v = metrics[first.metric]
            if self.best is None or first.sign * v < first.sign * self.best:
                self.best = v
        self.bar.update(1, **({} if self.best is None else {f"best {first.metric}": self.best}))
        self.term.record(rec)


def _drive(cfg: SearchConfig, strategy, executor: Executor, recorded: dict, run_dir: Path, progress: bool,
           log_format: str = "human"):  # fmt: skip
    """Moves the schedule on as results arrive; appends every new result to the history."""
    lag = cfg.lag
    sched = S.start(strategy, cfg.seed)
    results: dict[int, tuple[np.ndarray, float]] = {}
    cache: dict[str, dict] = {}
    bar = _Progress(cfg, progress, log_format)
    last_save = 0.0

    def finish(i: int, rec: dict) -> None:
        results[i] = (
            objective_vector(rec["metrics"], cfg.objectives),
            total_violation(rec["metrics"], cfg.constraints),
        )
        cache.setdefault(ArchConfig.from_dict(rec["arch"]).to_json(), rec)
        bar.update(rec)

    try:  # the bar is closed before an error line is printed, so that it does not tear it
        with RD.open_history(run_dir) as fh:
            while True:
                sched, new = S.advance(strategy, sched, results, budget=cfg.budget, lag=lag)
                if time.monotonic() - last_save > 2.0:
                    RD.write_state(run_dir, sched.state)
                    last_save = time.monotonic()
                jobs = []
                for i in new:
                    arch = sched.proposals[i]
                    key = arch.to_json()
                    if i in recorded:
                        if ArchConfig.from_dict(recorded[i]["arch"]).to_json() != key:
                            raise NasError(
                                f"cannot resume: proposal {i} differs from history.jsonl in '{run_dir}' "
                                "(was the config or the code changed?)"
                            )
                        finish(i, recorded[i])
                    elif key in cache:
                        rec = dict(cache[key], index=i, worker="cache", seconds=0.0, time=time.time())
                        RD.append(fh, rec)
                        finish(i, rec)
                    else:
                        jobs.append((i, arch))
                executor.submit(jobs)
                if not executor.pending():
                    if S.complete(sched, cfg.budget):
                        break
                    if new:
                        continue  # replayed or cached results may let the schedule move on
                    raise RuntimeError(
                        "search loop stalled"
                    )  # unreachable: nothing in flight yet results missing
                results_now = executor.wait()
                for note in getattr(executor, "take_notes", list)():
                    bar.term.say(note)
                for i, part in results_now:
                    rec = {"index": i, "arch": sched.proposals[i].to_dict(), "time": time.time(), **part}
                    RD.append(fh, rec)
                    finish(i, rec)
    finally:
        bar.bar.close()
    sched = S.close(strategy, sched, results)
    RD.write_state(run_dir, sched.state)
    return sched.state
