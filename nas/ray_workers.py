"""Ray evaluation workers (one per core, pinned, evaluators built once) and the thin
executor that hands them the runner's proposals.

Two unpinned JAX processes on one machine each run about 2x slower (see
docs/design.md), so every worker asks Ray for one CPU and pins itself with
``os.sched_setaffinity`` to a core that no other worker of ours on that node
holds.  Cores are claimed with ``flock`` on per-core lock files, released by
the kernel when the worker dies.  The evaluators (a supernet compile among
them) are built once in ``__init__`` and reused for every batch.

What the workers need travels with Ray, never through the driver's paths:
the evaluators' payloads (the supernet's weights and validation batches, a
fitted latency predictor, a table; :func:`nas.evaluators.load`) are read once
by the driver and put in Ray's object store, and on a cluster joined with
``--address`` the code travels as the job's ``runtime_env``: this project's
packages as ``py_modules`` and, when a ``callable`` evaluator is configured,
the driver's working directory (and the callable's package if it lies
elsewhere).  A local Ray keeps the cheaper route: the workers import from the
driver's own ``sys.path`` on the same disk (see docs/design.md, "Searches on a
cluster").

A local Ray listens on 127.0.0.1 only and keeps Ray's token authentication on (see
:func:`start_ray`); a cluster is joined with ``--address``.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping, Sequence

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from nas import ray_nodes as nodes
from nas.user_evaluator import user_code  # noqa: F401  (re-exported: what a cluster needs of the user's code)
from search_spaces import ArchConfig
from search_spaces.errors import NasError

WORKER_RESOURCES = {"CPU": 1}  # what each EvalWorker asks Ray for
PLACEMENT_TIMEOUT = 300.0  # seconds a worker may wait for a node to place it (nas search --placement-timeout)


@ray.remote(num_cpus=WORKER_RESOURCES["CPU"], max_restarts=0, max_task_retries=0)
class EvalWorker:
    """Holds the built evaluators; ``evaluate`` scores a batch of arch JSON strings.

    ``payloads`` (one per spec, :func:`nas.evaluators.load`) arrive from the object store;
    ``sys_path`` is the driver's (a local Ray) or empty (a cluster: code from runtime_env).
    """

    def __init__(
        self, specs: list[dict], space: dict, payloads: list, sys_path: list[str], pin: bool = True
    ) -> None:
        self.core, self._lock = nodes.claim_core() if pin else (None, None)
        if self.core is not None:  # BLAS / OpenMP threads of a pinned worker: one per core it has
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=len(os.sched_getaffinity(0)))
        for p in reversed(sys_path):
            if p not in sys.path:
                sys.path.insert(0, p)
        from supernet.cache import enable_compile_cache

        enable_compile_cache()  # workers compile the driver's programs: share them on disk
        core = f"core{self.core}" if self.core is not None else "unpinned"
        self.name = f"{socket.gethostname()}:{os.getpid()}:{core}"
        self.error: str | None = None
        try:
            from nas import evaluators as E
            from search_spaces import space_from_dict

            self.space = space_from_dict(space)
            self.evaluators = [E.build(s, self.space, p) for s, p in zip(specs, payloads, strict=True)]
        except Exception as e:  # noqa: BLE001 - reported by ready(), not as a dead actor
            self.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"

    def ready(self) -> str | None:
        """None once the evaluators are built, else why they could not be."""
        return self.error

    def info(self) -> dict:
        return {"name": self.name, "pid": os.getpid(), "core": self.core}

    def evaluate(self, arch_jsons: list[str]) -> tuple[str, float, list[dict[str, float]]]:
        from nas.evaluators import evaluate_all

        if self.error is not None:
            raise NasError(f"the evaluators cannot be built on this worker: {self.error}")
        start = time.perf_counter()
        archs = [ArchConfig.from_json(a) for a in arch_jsons]
        metrics = evaluate_all(self.evaluators, archs)
        return self.name, time.perf_counter() - start, metrics


def _keep_token_auth() -> None:
    """RAY_AUTH_MODE=token for this process and the Ray it starts (as Ray's own default does,
    but explicit: no opt-out through the environment, and no warning about the default)."""
    os.environ["RAY_AUTH_MODE"] = "token"
    try:  # Ray caches its config at import; refresh it as ray.init's default path does
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):
        pass


@contextmanager
def _loopback_node() -> Iterator[None]:
    """While Ray starts, its node address stays 127.0.0.1, so that Ray binds to loopback only.

    Ray 2.60 binds the gRPC servers of the gcs, the raylet and every worker (the driver's
    too) to loopback when the node address is 127.0.0.1 (``listen_to_localhost_only`` in
    ``src/ray/rpc/grpc_server.cc``; the runtime-env agent likewise), and to every interface
    (``::``) otherwise.  But ``ray.init(_node_ip_address="127.0.0.1")`` rewrites loopback
    into the machine's address (``ray._private.services.resolve_ip_for_localhost``) unless
    ``ray._private.ray_constants.ENABLE_RAY_CLUSTER`` is off: Ray's own single-machine mode,
    the default on macOS and Windows (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``), which Ray reads
    when it resolves the address.  It is switched off for the start only, so that a later
    ``--address`` join in this process resolves addresses as usual.
    """
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def start_ray(address: str | None, workers: int | None, specs: Sequence[Mapping[str, Any]] = ()) -> bool:
    """Starts or joins Ray unless this process already did; True if we must shut it down.

    A local Ray's workers import through the driver's ``PYTHONPATH`` (same machine, same
    files: nothing to upload).  A cluster joined with ``address`` gets the code as the
    job's ``runtime_env`` (:func:`predictors.remote.runtime_env`: this project's packages,
    and :func:`user_code` for a ``callable`` evaluator of ``specs``), so its nodes need only
    Ray and the dependencies.

    A local Ray listens on 127.0.0.1 only (:func:`_loopback_node`) and keeps Ray's token
    authentication on whatever ``RAY_AUTH_MODE`` says (loopback is still shared with the
    machine's other users).
    """
    if ray.is_initialized():
        return False
    platform = ("JAX_PLATFORMS", "NAS_XLA_CACHE")  # the driver's platform, its cache switch
    env = {k: os.environ[k] for k in platform if k in os.environ}
    if address:  # a node keeps its own cache folders: the driver's paths mean nothing there
        from predictors.remote import runtime_env

        modules, working_dir = user_code(specs)
        renv = dict(runtime_env(modules=modules, working_dir=working_dir), env_vars=env)
    else:  # same machine: the driver's code path and cache folders
        root = str(Path(__file__).resolve().parents[1])
        paths = [root, os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env.update({k: os.environ[k] for k in ("NAS_CACHE", "JAX_COMPILATION_CACHE_DIR") if k in os.environ})
        renv = {"env_vars": dict(env, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)))}
    kw = dict(runtime_env=renv, logging_level="WARNING", log_to_driver=False)
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            _keep_token_auth()
            with _loopback_node():
                ray.init(
                    address="local",
                    num_cpus=workers or os.cpu_count(),
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    **kw,
                )
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise NasError(
            f"--address {address}: cannot join the Ray cluster ({str(e).splitlines()[0]})"
        ) from None
    nodes.mute_ray_errors(True)
    return True


def stop_ray() -> None:
    """Shuts down the Ray that :func:`start_ray` started, giving Ray its error printer back."""
    nodes.mute_ray_errors(False)
    ray.shutdown()


class RayExecutor:
    """Evaluates ``(index, arch)`` jobs on ``n_workers`` actors, ``per_worker`` tasks queued on each.

    ``payloads`` (one per spec, :func:`nas.evaluators.payloads`) are put in Ray's object
    store once; every worker, a replacement too, builds its evaluators from them.
    ``driver_paths``: the workers also import from the driver's ``sys.path`` (a local Ray;
    on a cluster the code comes with the job's runtime_env instead).
    A worker that dies costs a retry of its batch on a fresh worker; an architecture that
    killed ``max_attempts`` workers, or an evaluator that raises, ends the search with one line.
    """

    def __init__(
        self,
        specs: list[dict],
        space: dict,
        payloads: list,
        *,
        n_workers: int,
        batch_size: int = 1,
        per_worker: int = 2,
        max_attempts: int = 3,
        driver_paths: bool = True,
        placement_timeout: float = PLACEMENT_TIMEOUT,
    ) -> None:
        sys_path = list(dict.fromkeys([os.getcwd()] + sys.path)) if driver_paths else []
        self.payloads = ray.put(payloads)  # a top-level ref argument: each actor gets the value
        self.batch_size, self.per_worker, self.max_attempts = batch_size, per_worker, max_attempts
        self.placement_timeout = placement_timeout
        self.unplaced: dict = {}  # actor -> (its ready() ref, when it was asked for): not yet placed
        self.notes: list[str] = []  # one line each, for the driver's terminal
        self.nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}  # alive when the search began

        def spawn():
            actor = EvalWorker.remote(specs, space, self.payloads, sys_path)
            self.unplaced[actor] = (actor.ready.remote(), time.monotonic())
            return actor

        self._spawn = spawn
        self.actors = [self._spawn() for _ in range(n_workers)]
        self._check_ready(self.actors)
        self.queue: deque[tuple[int, str]] = deque()
        self.inflight: dict = {}
        self.idle = [a for _ in range(per_worker) for a in self.actors]  # free task slots
        self.dead: set = set()
        self.attempts: dict[int, int] = {}

    def _check_ready(self, actors) -> None:
        refs = [self.unplaced[a][0] for a in actors]
        while ray.wait(refs, num_returns=len(refs), timeout=1.0)[1]:  # some not built yet
            stuck = self._stuck()
            if stuck:
                self.close()
                raise NasError(
                    f"{nodes.lost(self.nodes)}{len(stuck)} of {len(actors)} Ray workers found no node to place them in "
                    f"{self.placement_timeout:g} s: each asks {nodes.resources(WORKER_RESOURCES)}, the cluster has "
                    f"{nodes.resources(ray.available_resources())} free"
                )
        try:
            errors = ray.get(refs)
        except RayActorError as e:
            raise NasError(
                f"a Ray worker died while building the evaluators ({str(e).splitlines()[0]})"
            ) from None
        for err in errors:
            if err is not None:
                self.close()
                raise NasError(f"the evaluators cannot be built on a Ray worker: {err}")

    def submit(self, jobs: list[tuple[int, ArchConfig]]) -> None:
        self.queue.extend((i, a.to_json()) for i, a in jobs)
        self._dispatch()

    def pending(self) -> int:
        return len(self.queue) + sum(len(b) for _, b in self.inflight.values())

    def _dispatch(self) -> None:
        while self.queue and self.idle:
            actor = self.idle.pop(0)
            batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
            self.inflight[actor.evaluate.remote([a for _, a in batch])] = (actor, batch)

    def wait(self, timeout: float = 5.0) -> list[tuple[int, dict]]:
        """Finished jobs: ``(index, {metrics, worker, seconds, attempts})``."""
        timeout = min(timeout, self.placement_timeout)
        ready = ray.wait(list(self.inflight), num_returns=1, timeout=timeout)[0] if self.inflight else []
        self._drop_unplaced()
        out = []
        for ref in ready:
            actor, batch = self.inflight.pop(ref)
            try:
                worker, seconds, metrics = ray.get(ref)
            except RayActorError:
                self._retry(actor, batch)
                continue
            except RayTaskError as e:
                cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else e
                msg = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
                raise NasError(f"evaluation of {batch[0][1]} failed: {type(cause).__name__}: {msg}") from None
            self.idle.append(actor)
            for (i, _), m in zip(batch, metrics, strict=True):
                out.append(
                    (
                        i,
                        {
                            "metrics": m,
                            "worker": worker,
                            "seconds": seconds / len(batch),
                            "attempts": self.attempts.get(i, 0) + 1,
                        },
                    )
                )
        self._dispatch()
        return out

    def _drop_unplaced(self) -> None:
        """Workers that no node could place for ``placement_timeout`` seconds (a replacement for
        one lost with its node, whose CPU no longer exists) are given up: their batches go back
        to the queue for the workers that remain, with one line naming the lost nodes and the
        resources waited for.  With no worker left, the search stops with one line (the history
        is intact: ``--resume`` continues it once the cluster has room again)."""
        if not self.unplaced:
            return
        stuck = self._stuck()
        if not stuck:
            return
        for actor in stuck:
            del self.unplaced[actor]
            ray.kill(actor)
            self.actors.remove(actor)
            self.idle[:] = [a for a in self.idle if a is not actor]
            for ref, (owner, batch) in list(self.inflight.items()):
                if owner is actor:
                    del self.inflight[ref]
                    self.queue.extendleft(reversed(batch))
        what = (
            f"{nodes.lost(self.nodes)}{len(stuck)} Ray worker{'s' if len(stuck) > 1 else ''} waited {self.placement_timeout:g} s "
            f"for {nodes.resources(WORKER_RESOURCES)} that no node has free"
            f" (free: {nodes.resources(ray.available_resources())})"
        )
        if not self.actors:
            raise NasError(
                f"{what}; no worker left: the search stops, its history kept "
                "(continue it with nas search --resume RUN_DIR once the cluster has room)"
            )
        self.notes.append(
            f"{what}; going on with {len(self.actors)} worker{'s' if len(self.actors) > 1 else ''}"
        )
        self._dispatch()

    def _stuck(self) -> list:
        """Actors asked for more than ``placement_timeout`` s ago, not ready, that the cluster
        cannot hold: its alive nodes have fewer CPUs in all than this search has workers (a node
        was lost), so they would wait for ever.  Ready ones leave ``unplaced``.  (Waiting for
        CPUs that exist but other jobs hold is Ray's ordinary queueing, and is left to Ray.)"""
        if not self.unplaced:
            return []
        refs = {ref: a for a, (ref, _) in self.unplaced.items()}
        for ref in ray.wait(list(refs), num_returns=len(refs), timeout=0)[0]:
            del self.unplaced[refs[ref]]
        now = time.monotonic()
        late = [a for a, (_, t0) in self.unplaced.items() if now - t0 > self.placement_timeout]
        excess = len(self.actors) - int(ray.cluster_resources().get("CPU", 0) // WORKER_RESOURCES["CPU"])
        return late[-excess:] if late and excess > 0 else []

    def _retry(self, actor, batch) -> None:
        for i, arch in batch:
            self.attempts[i] = self.attempts.get(i, 0) + 1
            if self.attempts[i] >= self.max_attempts:
                raise NasError(f"architecture {arch} killed {self.max_attempts} workers; giving up")
        self.queue.extendleft(reversed(batch))
        if actor not in self.dead:  # its other queued task fails too: replace it once
            self.dead.add(actor)
            self.idle[:] = [a for a in self.idle if a is not actor]
            self.actors.remove(actor)
            fresh = self._spawn()
            self.actors.append(fresh)
            self.idle.extend([fresh] * self.per_worker)

    def take_notes(self) -> list[str]:
        """Lines for the driver's terminal since the last call (a worker given up, a node lost)."""
        notes, self.notes = self.notes, []
        return notes

    def close(self, timeout: float = 10.0) -> None:
        """Kills the workers and waits (up to ``timeout`` s) until Ray reports them dead, so that
        their cores are free for the next search on the node (``ray.kill`` is asynchronous)."""
        for actor in self.actors:
            ray.kill(actor)
        deadline = time.monotonic() + timeout
        for actor in self.actors:
            try:
                ray.get(actor.info.remote(), timeout=max(0.1, deadline - time.monotonic()))
            except (RayActorError, GetTimeoutError):
                pass
        self.actors = []
