"""``nas train CONFIG --workers N``: the supernet trained by N JAX processes that Ray Train starts.

Ray Train's ``JaxTrainer`` (``ray.train.v2.jax``) places N workers (``ScalingConfig``:
``--use-gpu``, ``--resources-per-worker``), restarts the whole group when one dies
(``FailureConfig``) and gives each its rank.  Its own JAX backend starts
``jax.distributed`` only for GPU and TPU workers, so on CPU rank 0 broadcasts a
coordinator address (its node's IP and a free port, ``ray.train.collective``) and every
worker calls :func:`supernet.distributed.initialize` with it; then each worker runs the
one trainer, :func:`supernet.train.train_and_evaluate`, on the shared workdir.  A restarted
group resumes from the run's latest Orbax checkpoint there, exactly as a rerun would.

Code travels as searches' does (:func:`nas.ray_workers.start_ray`: a local Ray's workers
import through the driver's ``PYTHONPATH``; a cluster gets this project's packages as the
job's ``runtime_env``); the workdir must be a path every node reaches (a shared or network
file system), as for ``--distributed``.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from search_spaces.errors import NasError

WORKERS_ENV = ("JAX_PLATFORMS", "NAS_XLA_CACHE", "JAX_COMPILATION_CACHE_DIR", "NAS_COORDINATOR_TIMEOUT")


def parse_resources(text: str | None) -> dict[str, float] | None:
    """``--resources-per-worker`` JSON: a mapping of resource name to an amount >= 0."""
    if text is None:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise NasError(f"field '--resources-per-worker': not valid JSON ({e.msg}): {text!r}") from None
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
        for k, v in obj.items()
    ):
        raise NasError(
            f"field '--resources-per-worker': expected a JSON object of resource amounts >= 0, got {text!r}"
        )
    return {k: float(v) for k, v in obj.items()}


def check_fits(workers: int, asked: dict[str, float], total: dict[str, float]) -> None:
    """One line naming what ``workers`` workers ask for in all (``asked``) and what the cluster
    has, when a resource is short (Ray Train would otherwise wait for it without a word)."""
    short = {k: v for k, v in asked.items() if v > total.get(k, 0.0)}
    if short:
        asked = ", ".join(f"{k} {v:g}" for k, v in short.items())
        has = ", ".join(f"{k} {total.get(k, 0.0):g}" for k in short)
        raise NasError(f"field '--workers': {workers} workers ask for {asked}; the cluster has {has} in all")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _worker_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: join jax.distributed, then train (resuming from the workdir)."""
    import ray
    import ray.train
    from ray.train.collective import broadcast_from_rank_zero

    from nas import terminal
    from supernet import distributed, versions
    from supernet.train import train_and_evaluate

    versions.check_against(config["versions"], where=ray.util.get_node_ip_address())
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    address = f"{ray.util.get_node_ip_address()}:{_free_port()}" if rank == 0 else None
    address = broadcast_from_rank_zero(address)
    distributed.initialize(coordinator=address, num_processes=world, process_id=rank)
    quiet = config["quiet"] or rank != 0  # process 0 shows progress (on Ray's worker output)
    term = terminal.Terminal("quiet" if quiet else config["log_format"])
    final = train_and_evaluate(config["cfg"], config["workdir"], reporter=term)
    if term.last_bar is not None:
        metrics_file = str(Path(config["workdir"]) / "metrics.jsonl")
        term.lines(terminal.training_summary(final, term.last_bar, metrics_file=metrics_file))


def train_on_ray(
    cfg: dict[str, Any],
    workdir: str | Path,
    *,
    workers: int,
    address: str | None = None,
    use_gpu: bool = False,
    resources_per_worker: dict[str, float] | None = None,
    max_failures: int = 1,
    quiet: bool = False,
    log_format: str = "human",
    placement_timeout: float = 300.0,
) -> dict[str, Any]:
    """Trains ``cfg`` in ``workdir`` with ``workers`` Ray Train workers; returns the final metrics
    (the last record process 0 wrote to ``metrics.jsonl``).  A node lost meanwhile is one line on
    stderr; when the alive nodes can no longer hold the workers for ``placement_timeout`` seconds
    the run stops with one line (:mod:`nas.train_watch`)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise NasError(f"field '--workers': expected an integer >= 1, got {workers!r}")
    if not placement_timeout > 0:
        raise NasError(f"field '--placement-timeout': expected seconds > 0, got {placement_timeout!r}")
    if cfg["batch_size"] % workers:
        raise NasError(
            f"config: field 'batch_size' ({cfg['batch_size']}) must be divisible by the {workers} workers"
        )
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.v2.jax import JaxTrainer

    from nas.ray_workers import start_ray
    from nas.train_watch import NodeWatch
    from supernet.versions import package_versions

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = start_ray(address, workers)
    try:
        scaling = ScalingConfig(
            num_workers=workers, use_gpu=use_gpu, resources_per_worker=resources_per_worker
        )
        check_fits(
            workers, scaling.total_resources, {k: float(v) for k, v in ray.cluster_resources().items()}
        )
        env = {k: os.environ[k] for k in WORKERS_ENV if k in os.environ}
        trainer = JaxTrainer(
            _worker_loop,
            train_loop_config={"cfg": cfg, "workdir": str(workdir), "quiet": quiet, "log_format": log_format,
                               "versions": package_versions()},  # fmt: skip
            scaling_config=scaling,
            run_config=RunConfig(
                name="nas-train",
                storage_path=str(workdir / "ray"),
                failure_config=FailureConfig(max_failures=max_failures),
                worker_runtime_env={"env_vars": env} if env else None,
            ),
        )
        watch = NodeWatch(
            workers=workers,
            asked=scaling.total_resources,
            workdir=str(workdir),
            placement_timeout=placement_timeout,
        )
        try:
            with watch:
                trainer.fit()
        except Exception as e:  # noqa: BLE001 - Ray Train's wrapped worker errors, as one line
            cause = e
            while getattr(cause, "__cause__", None) is not None:
                cause = cause.__cause__
            if isinstance(cause, NasError):
                raise NasError(str(cause)) from None
            lost = "".join(f"{x}; " for x in watch.lost)
            raise NasError(
                f"{lost}train: the Ray Train run failed ({type(cause).__name__}: {str(cause).splitlines()[0][:200] if str(cause) else ''})"
            ) from None
        lines = (workdir / "metrics.jsonl").read_text().splitlines()
        return json.loads(lines[-1])
    finally:
        if started:
            ray.shutdown()
