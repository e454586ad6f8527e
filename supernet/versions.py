"""The installed versions of the packages a training step depends on, and the one-line error when
the processes (or Ray Train's workers and their driver) of one run do not share them.

Mixed versions across hosts are the classic silent failure of a multi-host run: a different
``jaxlib`` or ``flax`` can change the compiled step, the parameter layout or a checkpoint's format,
and the collectives then disagree or hang.  So every process of a ``jax.distributed`` run gathers
every other's versions before the first step (:func:`check_across_processes`), and each Ray Train
worker compares its own with its driver's (:func:`check_against`).
"""

from __future__ import annotations

from importlib import metadata

import numpy as np

from search_spaces.errors import NasError

PACKAGES = ("nas-efficient-transformers", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy")
_WIDTH = 48  # bytes a version string may take when gathered across processes


def package_versions() -> dict[str, str]:
    """This process's version of each of :data:`PACKAGES` (``"not installed"`` when absent)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def mismatch_line(per_process: list[dict[str, str]], labels: list[str] | None = None) -> str | None:
    """None when every entry of ``per_process`` holds the same versions; else one line naming each
    package that differs and where (``labels``, default ``process 0``, ``process 1``, ...) each
    version is installed."""
    labels = labels or [f"process {i}" for i in range(len(per_process))]
    parts = []
    for name in per_process[0]:
        by_version: dict[str, list[str]] = {}
        for label, versions in zip(labels, per_process, strict=True):
            by_version.setdefault(versions.get(name, "not installed"), []).append(label)
        if len(by_version) > 1:
            parts.append(f"{name} " + ", ".join(f"{v} on {' and '.join(at)}" for v, at in by_version.items()))
    if not parts:
        return None
    return (
        f"distributed: package versions differ across the run's processes: {'; '.join(parts)} "
        "(install the same versions on every host)"
    )


def _encode(versions: dict[str, str]) -> np.ndarray:
    rows = np.zeros((len(PACKAGES), _WIDTH), np.int32)
    for i, name in enumerate(PACKAGES):
        raw = versions[name].encode()[:_WIDTH]
        rows[i, : len(raw)] = np.frombuffer(raw, np.uint8)
    return rows


def _decode(rows: np.ndarray) -> dict[str, str]:
    return {
        name: bytes(int(b) for b in row if b).decode(errors="replace")
        for name, row in zip(PACKAGES, rows, strict=True)
    }


def check_across_processes() -> None:
    """Every process of a ``jax.distributed`` run gathers every process's versions; where they
    differ, every process stops with the same one line (a no-op in a single process)."""
    import jax

    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    gathered = np.asarray(multihost_utils.process_allgather(_encode(package_versions())))
    line = mismatch_line([_decode(rows) for rows in gathered])
    if line:
        raise NasError(line)


def check_against(driver: dict[str, str], *, where: str) -> None:
    """A Ray Train worker's versions against its driver's: one line naming ``where`` it runs."""
    line = mismatch_line([driver, package_versions()], ["the driver", f"the worker on {where}"])
    if line:
        raise NasError(line)
