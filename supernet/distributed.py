"""Training across processes: ``jax.distributed`` set up from the environment, and each process's
share of a global batch.

One JAX process runs per host (or per worker); together they see one global device list, and the
trainer's ``data`` mesh spans all of it (:mod:`supernet.train`).  This module only

- starts ``jax.distributed`` (:func:`initialize`): from ``NAS_COORDINATOR`` (``HOST:PORT``),
  ``NAS_NUM_PROCESSES`` and ``NAS_PROCESS_ID`` when set, else by JAX's own cluster detection
  (SLURM, Open MPI, Kubernetes, ...); on CPU the collectives go over Gloo.  A process that is not
  the coordinator first waits for the coordinator's port for a bounded time
  (``NAS_COORDINATOR_TIMEOUT`` seconds, default 300) and fails with one line when it never opens;
  every process, the coordinator included, then waits the same bound for all processes to connect
  and otherwise exits (status 2) with one line naming what it waited for, instead of XLA's abort
  (a watchdog thread ends the process: XLA's ``connect`` cannot be interrupted, and its own
  deadline, set later than ours, aborts with a stack trace);
- says which rows of a global batch this process holds (:func:`local_rows`) and builds the global
  array from them (:func:`global_batch`, ``jax.make_array_from_process_local_data``);
- offers a barrier (:func:`sync`) and ``is_primary()`` (process 0 writes metrics and logs).

Ray Train's ``JaxTrainer`` (:mod:`nas.cluster_train`) calls :func:`initialize` with the
coordinator it broadcast from rank 0, since its own JAX backend only starts ``jax.distributed``
for GPU and TPU workers.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding

from search_spaces.errors import NasError

ENV_COORDINATOR, ENV_NUM, ENV_ID, ENV_TIMEOUT = (
    "NAS_COORDINATOR",
    "NAS_NUM_PROCESSES",
    "NAS_PROCESS_ID",
    "NAS_COORDINATOR_TIMEOUT",
)


def _int_env(name: str) -> int:
    raw = os.environ[name]
    try:
        return int(raw)
    except ValueError:
        raise NasError(f"environment: {name} must be an integer, got {raw!r}") from None


def _wait_for(address: str, timeout_s: float) -> None:
    """Returns once ``HOST:PORT`` accepts a TCP connection; a one-line NasError after ``timeout_s``."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise NasError(f"environment: {ENV_COORDINATOR} must be HOST:PORT, got {address!r}")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise NasError(
                    f"distributed: the coordinator {address} did not come up within {timeout_s:g} s "
                    f"(is process 0 running? {ENV_TIMEOUT} sets the wait)"
                ) from None
            time.sleep(0.5)


def initialize(
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: float | None = None,
) -> None:
    """Starts ``jax.distributed`` (once per process): arguments, else the ``NAS_*`` variables,
    else JAX's own cluster detection.  Must run before anything touches a JAX device."""
    if jax.distributed.is_initialized():
        return
    if coordinator is None and os.environ.get(ENV_COORDINATOR):
        coordinator = os.environ[ENV_COORDINATOR]
        num_processes = _int_env(ENV_NUM) if ENV_NUM in os.environ else None
        process_id = _int_env(ENV_ID) if ENV_ID in os.environ else None
        if num_processes is None or process_id is None:
            raise NasError(f"environment: {ENV_COORDINATOR} is set, so {ENV_NUM} and {ENV_ID} must be too")
    if timeout_s is None:
        timeout_s = float(os.environ.get(ENV_TIMEOUT, "300"))
    if num_processes is not None and (num_processes < 1 or not 0 <= (process_id or 0) < num_processes):
        raise NasError(
            f"distributed: process id {process_id} is not within the {num_processes} processes "
            f"({ENV_NUM}, {ENV_ID})"
        )
    platforms = os.environ.get("JAX_PLATFORMS", "") or jax.config.jax_platforms or ""
    if not platforms or "cpu" in platforms.split(","):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator is not None and process_id:
        _wait_for(coordinator, timeout_s)
    watchdog = threading.Timer(
        timeout_s, _give_up, args=(_waited_for(coordinator, num_processes, process_id, timeout_s),)
    )
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            coordinator,
            num_processes,
            process_id,
            initialization_timeout=max(1, int(timeout_s)) + _XLA_GRACE_S,
        )
    except ValueError as e:  # no coordinator given and no cluster detected
        raise NasError(
            f"distributed: no cluster found ({str(e).splitlines()[0][:160]}); set {ENV_COORDINATOR}, "
            f"{ENV_NUM} and {ENV_ID}, or run under a scheduler JAX detects (SLURM, Open MPI)"
        ) from None
    finally:
        watchdog.cancel()


_XLA_GRACE_S = 30  # XLA's own deadline comes this much after ours, so ours always speaks first


def _waited_for(
    coordinator: str | None, num_processes: int | None, process_id: int | None, timeout_s: float
) -> str:
    """The one line a process that waited in vain for the others prints (see :func:`_give_up`)."""
    if coordinator is None:  # JAX's own detection (SLURM, Open MPI): the scheduler set the counts
        where, who = "the coordinator the scheduler named", "all processes of the scheduler's job"
    else:
        where = f"the coordinator {coordinator}"
        who = f"all {ENV_NUM}={num_processes} processes"
    me = "process 0 (the coordinator)" if process_id == 0 else f"process {process_id}"
    if process_id is None:
        me = "this process"
    hint = (
        "is every task of the job running?"
        if coordinator is None
        else f"is every process running, with the same {ENV_COORDINATOR} and {ENV_NUM}, and "
        f"{ENV_ID} 0 to {num_processes - 1 if num_processes else 'N-1'} each once?"
    )
    return (
        f"error: distributed: {me} waited {timeout_s:g} s at {where} for {who} to connect, and they "
        f"did not ({hint} {ENV_TIMEOUT} sets the wait)"
    )


def _give_up(line: str) -> None:
    """The watchdog's end: one line on stderr and exit status 2 (from a thread, so ``os._exit``)."""
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    os._exit(2)


def is_primary() -> bool:
    """Process 0: the one that writes metrics, logs and shows progress."""
    return jax.process_index() == 0


def sync(name: str) -> None:
    """A barrier over all processes (a no-op in a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def local_rows(sharding: NamedSharding, batch_size: int) -> slice:
    """The rows of a ``(batch_size, ...)`` global batch laid out by ``sharding`` that this process's
    devices hold (one contiguous block when the mesh lists each process's devices together)."""
    index_map = sharding.addressable_devices_indices_map((batch_size,))
    starts = sorted(
        {
            (idx[0].start or 0, batch_size if idx[0].stop is None else idx[0].stop)
            for idx in index_map.values()
        }
    )
    lo, hi = starts[0][0], starts[-1][1]
    if sum(b - a for a, b in starts) != hi - lo:
        raise NasError("distributed: this process's devices do not hold one contiguous block of the batch")
    return slice(lo, hi)


def global_batch(local: Any, sharding: NamedSharding, batch_size: int) -> Any:
    """The global ``(batch_size, ...)`` arrays whose rows :func:`local_rows` this process holds."""
    return jax.tree.map(
        lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a), (batch_size, *a.shape[1:])),
        local,
    )


def check_shared_dir(workdir: Path) -> None:
    """Every process must see the same run folder (checkpoints are written by all of them, the
    metrics by process 0): process 0 writes a random token there, every process reads it back,
    and a process that does not find it makes every process stop with one line naming it."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    token = np.random.default_rng().integers(0, 2**31 - 1, size=4, dtype=np.int64).astype(np.int32)
    token = np.asarray(multihost_utils.broadcast_one_to_all(token))
    mark = Path(workdir) / ".nas-shared"
    if is_primary():
        mark.write_text(" ".join(map(str, token.tolist())))
    sync("nas-shared-written")
    try:
        seen = mark.read_text().split() == [str(t) for t in token.tolist()]
    except OSError:
        seen = False
    ok = np.asarray(multihost_utils.process_allgather(np.asarray([seen], np.int32))).ravel()
    missing = [i for i, v in enumerate(ok.tolist()) if not v]
    if missing:
        raise NasError(
            f"field 'workdir': '{workdir}' is not the folder process 0 writes on process(es) {missing} "
            f"of {jax.process_count()}: use a path every process reaches (a shared file system)"
        )
