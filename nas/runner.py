"""The search loop: a strategy proposes, Ray workers evaluate, results feed back.

Asynchronous and deterministic at once.  Workers never wait for a generation:
as soon as one is free it gets the next proposal.  Yet the result does not
depend on timing, because of one rule: proposal ``i`` is asked for after
exactly the first ``i - lag + 1`` results *in proposal order* were told to the
strategy (results that arrive early wait in a buffer).  With ``lag`` (default
2 x workers) proposals in flight (two queued per worker, so that a worker
does not idle while the driver handles its last result), a free worker waits
only if one evaluation is ``lag`` places behind.  The same seed and the same evaluations therefore
give the same proposals, whatever the number of workers or their speed.

Every result is appended (and fsynced) to ``history.jsonl`` the moment it
arrives; ``state.json`` holds the strategy state.  ``resume`` replays the
strategy against the recorded results (which are not evaluated again) and
carries on, so a killed search reaches the same final result as an
uninterrupted one and loses no finished evaluation.  An architecture is never
evaluated twice (a cache by arch), and a worker that dies costs only a retry
of its batch on a fresh worker.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import NamedTuple

import numpy as np
import yaml

from nas import evaluators as E
from nas import search_config
from nas.free import build_free
from nas.objectives import objective_vector, total_violation
from nas.search_config import SearchConfig
from nas.strategies import Prefilter, StrategyState, make
from nas.table import mapping as table_mapping
from search_spaces import ArchConfig
from search_spaces.errors import NasError

MAX_ATTEMPTS = 3  # evaluations of one arch lost to dying workers before giving up
TASKS_PER_WORKER = 2  # queued on each worker, so that it never idles while the driver answers


class SearchResult(NamedTuple):
    run_dir: Path
    records: list[dict]  # every evaluation, in proposal order
    state: StrategyState
    config: SearchConfig


# ---- run directory -------------------------------------------------------------------
def read_history(run_dir: Path) -> dict[int, dict]:
    """index -> record; a torn last line (killed mid-write) is ignored."""
    path = Path(run_dir) / "history.jsonl"
    out: dict[int, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[int(rec["index"])] = rec
    return out


def _append(fh, rec: dict) -> None:
    fh.write(json.dumps(rec, sort_keys=True) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_run_config(run_dir: str | Path) -> SearchConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise NasError(f"--resume {run_dir}: no search there (config.yaml is missing)")
    return search_config.check(search_config.load_raw(path))


# ---- pieces built from the config ----------------------------------------------------------
def build_pool(cfg: SearchConfig) -> list[ArchConfig] | None:
    if cfg.pool is None:
        return None
    if cfg.pool == "table":
        specs = [s for s in cfg.evaluators if s["kind"] == "table"]
        return [a for s in specs for a in E.table_archs(s["path"], cfg.space, **table_mapping(s))]
    archs = []
    for _n, line in enumerate(Path(cfg.pool).read_text().splitlines(), 1):
        if line.strip():
            obj = json.loads(line)
            archs.append(cfg.space.parse(obj.get("arch", obj) if isinstance(obj, dict) else obj))
    return archs


def build_prefilter(cfg: SearchConfig) -> Prefilter | None:
    """Constraints on metrics of cheap evaluators, checked before proposing."""
    cheap = [s for s in cfg.evaluators if E.is_cheap(s)]
    names = {m for s in cheap for m in (E.static_provides(s) or ())}
    cons = [c for c in cfg.constraints if c.metric in names]
    if not cons:
        return None
    evs = [E.build(s, cfg.space) for s in cheap if set(E.static_provides(s) or ()) & {c.metric for c in cons}]

    def fn(archs):
        metrics = E.evaluate_all(evs, list(archs))
        return np.array([total_violation(m, cons) <= 0 for m in metrics])

    return Prefilter(fn, " and ".join(map(str, cons)))


def _start_ray(address: str | None, workers: int | None) -> bool:
    """Starts or joins Ray unless this process already did; True if we must shut it down."""
    import ray

    if ray.is_initialized():
        return False
    root = str(Path(__file__).resolve().parents[1])
    paths = [root, os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    for var in ("JAX_PLATFORMS", "NAS_PREDICTORS"):  # workers see the driver's platform and predictors
        if var in os.environ:
            env[var] = os.environ[var]
    kw = dict(runtime_env={"env_vars": env}, logging_level="WARNING", log_to_driver=False)
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(address="local", num_cpus=workers or os.cpu_count(), include_dashboard=False, **kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise NasError(
            f"--address {address}: cannot join the Ray cluster ({str(e).splitlines()[0]})"
        ) from None
    return True


# ---- the loop ------------------------------------------------------------------------
def run_search(
    cfg: SearchConfig,
    run_dir: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> SearchResult:
    """Runs (or, with ``resume``, continues) a search; writes the run directory."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    from nas.ray_workers import EvalWorker

    run_dir = Path(run_dir)
    if not resume and (run_dir / "history.jsonl").exists():
        raise NasError(f"run directory '{run_dir}' already holds a search; resume it with --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    pool = build_pool(cfg)
    prefilter = build_prefilter(cfg)
    free = build_free(cfg.evaluators, cfg.objectives, cfg.space)
    strategy = make(
        cfg.strategy, cfg.space, pool=pool, prefilter=prefilter, free=free, **cfg.strategy_options
    )
    strategy.ask(strategy.init(cfg.seed), 1)  # an empty constraint region fails here, before Ray starts
    recorded = read_history(run_dir) if resume else {}
    if resume:  # drop a line torn by the kill, so that appends start on a fresh line
        lines = [json.dumps(r, sort_keys=True) + "\n" for _, r in sorted(recorded.items())]
        _write_atomic(run_dir / "history.jsonl", "".join(lines))

    started = _start_ray(address, workers or cfg.workers)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n_workers = max(1, min(workers or cfg.workers or cpus, cpus))
        lag = cfg.lag or 2 * n_workers
        if not resume:
            raw = dict(cfg.raw, lag=lag)
            _write_atomic(run_dir / "config.yaml", yaml.safe_dump(raw, sort_keys=False))
            cfg = cfg._replace(raw=raw, lag=lag)
        sys_path = list(dict.fromkeys([os.getcwd()] + sys.path))
        space_dict = cfg.space.to_dict()

        def spawn():
            return EvalWorker.remote(cfg.evaluators, space_dict, sys_path)

        actors = [spawn() for _ in range(n_workers)]
        try:
            with open(run_dir / "history.jsonl", "a") as fh:
                state = _loop(
                    cfg,
                    strategy,
                    actors,
                    spawn,
                    recorded,
                    fh,
                    run_dir,
                    lag,
                    progress,
                    RayActorError,
                    RayTaskError,
                )
        finally:
            for actor in actors:
                ray.kill(actor)
    finally:
        if started:
            ray.shutdown()
    records = [r for _, r in sorted(read_history(run_dir).items())]
    return SearchResult(run_dir, records, state, cfg)


def _loop(cfg, strategy, actors, spawn, recorded, fh, run_dir, lag, progress, RayActorError, RayTaskError):
    import ray
    from tqdm import tqdm

    primary = cfg.objectives[0]
    proposals: list[ArchConfig] = []
    done: dict[int, dict] = {}
    cache: dict[str, dict] = {}
    state = strategy.init(cfg.seed)
    told, exhausted = 0, False
    queue: deque[int] = deque()
    inflight: dict = {}
    idle = [a for _ in range(TASKS_PER_WORKER) for a in actors]  # free task slots
    dead: set = set()
    attempts: dict[int, int] = {}
    best = [None]
    last_save = [0.0]
    bar = tqdm(total=cfg.budget, disable=not progress, desc=f"search {cfg.strategy}", file=sys.stderr)

    def finish(i: int, rec: dict) -> None:
        done[i] = rec
        cache.setdefault(ArchConfig.from_dict(rec["arch"]).to_json(), rec)
        if total_violation(rec["metrics"], cfg.constraints) <= 0 and primary.metric in rec["metrics"]:
            v = rec["metrics"][primary.metric]
            if best[0] is None or primary.sign * v < primary.sign * best[0]:
                best[0] = v
        if best[0] is not None:
            bar.set_postfix_str(f"best {primary.metric}={best[0]:.4g}")
        bar.update(1)

    def tell_next(st):
        rec = done[told]
        F = objective_vector(rec["metrics"], cfg.objectives)
        v = total_violation(rec["metrics"], cfg.constraints)
        st = strategy.tell(st, [proposals[told]], F[None], np.array([v]))
        if time.monotonic() - last_save[0] > 2.0:
            _write_atomic(run_dir / "state.json", json.dumps(st.to_dict()))
            last_save[0] = time.monotonic()
        return st

    while True:
        while not exhausted and len(proposals) < cfg.budget:
            need = max(0, len(proposals) - lag + 1)
            while told < need and told in done:
                state = tell_next(state)
                told += 1
            if told < need:
                break
            archs, state = strategy.ask(state, 1)
            if not archs:
                exhausted = True
                break
            i, arch = len(proposals), archs[0]
            proposals.append(arch)
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
                _append(fh, rec)
                finish(i, rec)
            else:
                queue.append(i)
        while queue and idle:
            actor = idle.pop(0)
            batch = [queue.popleft() for _ in range(min(cfg.batch_size, len(queue)))]
            ref = actor.evaluate.remote([proposals[i].to_json() for i in batch])
            inflight[ref] = (actor, batch)
        if not inflight and not queue:
            if told == len(proposals) or all(i in done for i in range(told, len(proposals))):
                if exhausted or len(proposals) >= cfg.budget:
                    break
                continue
            raise RuntimeError("search loop stalled")  # unreachable: nothing in flight yet results missing
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=5.0)
        for ref in ready:
            actor, batch = inflight.pop(ref)
            try:
                worker, seconds, metrics = ray.get(ref)
            except RayActorError:
                for i in batch:
                    attempts[i] = attempts.get(i, 0) + 1
                    if attempts[i] >= MAX_ATTEMPTS:
                        raise NasError(
                            f"architecture {proposals[i].to_json()} killed {MAX_ATTEMPTS} workers; giving up"
                        ) from None
                queue.extendleft(reversed(batch))
                if actor not in dead:  # its other queued task fails too: replace it once
                    dead.add(actor)
                    idle[:] = [a for a in idle if a is not actor]
                    actors.remove(actor)
                    fresh = spawn()
                    actors.append(fresh)
                    idle.extend([fresh] * TASKS_PER_WORKER)
                continue
            except RayTaskError as e:
                cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else e
                arch = proposals[batch[0]].to_json()
                msg = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
                raise NasError(f"evaluation of {arch} failed: {type(cause).__name__}: {msg}") from None
            idle.append(actor)
            for i, m in zip(batch, metrics, strict=False):
                rec = {
                    "index": i,
                    "arch": proposals[i].to_dict(),
                    "metrics": m,
                    "worker": worker,
                    "seconds": seconds / len(batch),
                    "time": time.time(),
                    "attempts": attempts.get(i, 0) + 1,
                }
                _append(fh, rec)
                finish(i, rec)
    while told < len(proposals):
        state = tell_next(state)
        told += 1
    bar.close()
    _write_atomic(run_dir / "state.json", json.dumps(state.to_dict()))
    return state
