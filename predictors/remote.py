"""Measuring on the Ray node that has the device.

A target device joins the cluster the searches already use, tagged with a
custom resource (Ray's documented way to route work to particular nodes)::

    ray start --address HEAD:6379 --resources '{"device:jetson": 1}'

and ``nas latency measure --device jetson --address HEAD:6379`` runs the
campaign there: the driver keeps the pure parts (the stratified choice, the
reference architectures, the retry rule, the resumable JSONL), and every group
is timed by one actor that holds the node's ``device:jetson`` resource, so no
two measurements share the device and none runs on the driver's node.  Each
record comes back with the node that timed it (``node``: Ray node id, host name
and IP) and that node's fingerprint (CPU, GPU model and driver, JAX / ONNX
Runtime versions).  The code reaches the node through Ray's ``runtime_env``
(``py_modules`` of this project's packages), so the repository need not be
installed there, at any path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from search_spaces import ArchConfig, NasError, SearchSpace

PACKAGES = ("search_spaces", "supernet", "predictors", "nas")  # this project's code, all of it
EXCLUDES = ["__pycache__", "*.pyc"]  # predictors/data/.rayignore keeps plots and raw campaigns home
# besides the working directory's .gitignore (Ray honours it): environments, search runs and
# supernet checkpoints (the weights travel through the object store, see nas.ray_workers)
WORKING_DIR_EXCLUDES = [".git", ".venv", "venv", "runs", "checkpoints"]


def resource(device: str) -> str:
    """The Ray resource that marks the node of ``device``."""
    return f"device:{device}"


def runtime_env(*, modules: Sequence[str] = (), working_dir: str | None = None) -> dict[str, Any]:
    """This project's packages as ``py_modules``, plus the user's ``modules`` (paths of packages
    or ``.py`` files) and ``working_dir``: Ray zips and uploads them once per content hash to
    the cluster, and every node unpacks them before it starts a worker of the job, so a node
    needs only Ray and the dependencies (the same runtime_env serves ``nas search --address``)."""
    root = Path(__file__).resolve().parents[1]
    env: dict[str, Any] = {
        "py_modules": [str(root / p) for p in PACKAGES] + [str(m) for m in modules],
        "excludes": list(EXCLUDES),
    }
    if working_dir is not None:
        env["working_dir"] = str(working_dir)
        env["excludes"] += WORKING_DIR_EXCLUDES
    return env


def _node() -> dict[str, Any]:
    import socket

    import ray

    import predictors

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "ip": ray.util.get_node_ip_address(),
        "code": str(Path(predictors.__file__).resolve().parent),  # where runtime_env put this package
    }


def _meter_class():
    import ray

    @ray.remote(num_cpus=1)
    class Meter:
        """Times groups of architectures on its node (one at a time: an actor runs its calls in order)."""

        def node(self) -> dict[str, Any]:
            return _node()

        def measure(self, space_dict: dict, archs: list[str], kw: dict) -> list[dict[str, Any]]:
            from predictors.interleaved import measure_group
            from search_spaces import space_from_dict

            space = space_from_dict(space_dict, source="driver")
            recs = measure_group(space, [ArchConfig.from_json(a) for a in archs], **kw)
            where = _node()
            return [dict(r, node=where) for r in recs]

    return Meter


def remote_measure_fn(device: str, *, address: str | None = None) -> Callable[..., list[dict[str, Any]]]:
    """A ``measure_fn`` (``(space, archs, **kw) -> records``) that times on ``device``'s node.

    Connects to the cluster at ``address`` with this project's packages as the job's
    ``runtime_env`` (a Ray session the caller already started keeps its own), checks
    that a node offers the resource ``device:<device>`` and starts one actor there.
    """
    import ray

    if not ray.is_initialized():
        try:
            # Local code can only be uploaded for the whole job (Ray: runtime_env at ray.init).
            ray.init(address=address, logging_level="ERROR", log_to_driver=False, runtime_env=runtime_env())
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise NasError(f"field '--address': cannot join the Ray cluster at {address!r} ({e})") from None
    res = resource(device)
    have = ray.cluster_resources()
    if have.get(res, 0) < 1:
        tags = sorted(k for k in have if k.startswith("device:"))
        raise NasError(
            f"field '--device': no node of the cluster offers resource {res!r} (it has {tags}); start the "
            f"device's node with: ray start --address HEAD:6379 --resources '{{\"{res}\": 1}}'"
        )
    meter = _meter_class().options(resources={res: 1}).remote()

    def measure(space: SearchSpace, archs: Sequence[ArchConfig], **kw: Any) -> list[dict[str, Any]]:
        return ray.get(meter.measure.remote(space.to_dict(), [a.to_json() for a in archs], kw))

    measure.node = lambda: ray.get(meter.node.remote())  # type: ignore[attr-defined]
    return measure
