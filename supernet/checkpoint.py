"""Orbax checkpoints of a supernet training run.

A checkpoint holds the arrays (params, optimizer state) and a JSON record of
everything else a resumed run needs to continue exactly as an uninterrupted
one: the step (which is also the data position, see :mod:`supernet.data`),
the sampler state, the run's PRNG key, the config and the search space.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from search_spaces import SearchSpace, space_from_dict
from search_spaces.errors import NasError

CKPT_DIR = "checkpoints"


def manager(workdir: str | Path, *, max_to_keep: int = 2) -> ocp.CheckpointManager:
    path = Path(workdir).resolve() / CKPT_DIR
    return ocp.CheckpointManager(
        path,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True
        ),
    )


def save(mngr: ocp.CheckpointManager, step: int, arrays: dict, meta: dict[str, Any]) -> None:
    """Saves ``arrays`` (params, opt_state) and the JSON ``meta`` at ``step`` (asynchronously)."""
    mngr.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta))
    )


def restore(mngr: ocp.CheckpointManager, target: dict | None = None) -> tuple[int, dict, dict] | None:
    """``(step, arrays, meta)`` of the latest complete checkpoint, or None if there is none."""
    step = mngr.latest_step()
    if step is None:
        return None
    state_arg = ocp.args.StandardRestore(target) if target is not None else ocp.args.StandardRestore()
    out = mngr.restore(step, args=ocp.args.Composite(state=state_arg, meta=ocp.args.JsonRestore()))
    return step, out["state"], out["meta"]


def key_to_json(key: jax.Array) -> list[int]:
    return np.asarray(jax.random.key_data(key)).astype(np.uint32).ravel().tolist()


def key_from_json(data: list[int]) -> jax.Array:
    return jax.random.wrap_key_data(np.asarray(data, dtype=np.uint32))


def _latest(workdir: str | Path) -> tuple[ocp.CheckpointManager, int, dict]:
    """An open manager, the latest complete step and its JSON record; one-line errors."""
    path = Path(workdir)
    if not path.is_dir():
        raise NasError(f"field 'workdir': supernet run directory '{workdir}' does not exist")
    if not (path / CKPT_DIR).is_dir():
        raise NasError(f"field 'workdir': '{workdir}' holds no checkpoints (run 'nas train' first)")
    mngr = manager(path)
    try:
        step = mngr.latest_step()
        if step is None:
            raise NasError(f"field 'workdir': '{workdir}' holds no complete checkpoint")
        try:
            meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:  # noqa: BLE001 - Orbax's errors on a damaged file, as one line
            raise NasError(
                f"field 'workdir': checkpoint {step} in '{workdir}' cannot be read ({type(e).__name__})"
            ) from None
        if not isinstance(meta, dict) or not isinstance(meta.get("space"), dict) or "config" not in meta:
            raise NasError(f"field 'workdir': checkpoint {step} in '{workdir}' has no space or config record")
    except BaseException:
        mngr.close()
        raise
    return mngr, step, meta


def read_space(workdir: str | Path) -> SearchSpace:
    """The space of the latest checkpoint in ``workdir`` (its JSON record only, no weights)."""
    mngr, _, meta = _latest(workdir)
    mngr.close()
    return space_from_dict(meta["space"], source=f"{workdir} checkpoint")


def load(workdir: str | Path) -> tuple[SearchSpace, dict, dict]:
    """``(space, params, config)`` of the latest checkpoint of a training run in ``workdir``."""
    mngr, step, meta = _latest(workdir)
    try:
        space = space_from_dict(meta["space"], source=f"{workdir} checkpoint")
        target = abstract_state(space, meta["config"])
        try:
            out = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
        except Exception as e:  # noqa: BLE001 - truncated or mismatched arrays, as one line
            raise NasError(
                f"field 'workdir': the weights of checkpoint {step} in '{workdir}' cannot be read "
                f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''})"
            ) from None
    finally:
        mngr.close()
    config = dict(meta["config"], restored_step=step)
    return space, out["state"]["params"], config


def abstract_state(space: SearchSpace, config: dict) -> dict:
    """Shapes and dtypes of ``{"params", "opt_state"}`` on this process's first device."""
    from supernet import model
    from supernet.optim import make_optimizer

    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    params = jax.eval_shape(lambda: model.init(space, jax.random.key(0)))
    opt_state = jax.eval_shape(make_optimizer(config).init, params)
    tree = {"params": params, "opt_state": opt_state}
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), tree)
