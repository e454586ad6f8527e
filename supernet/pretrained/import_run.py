"""A supernet run made from a Hugging Face folder without training (``nas hf import``).

The run folder is what ``nas train CONFIG --init-from FOLDER`` would hold before its first
step: an Orbax checkpoint at step 0 whose params are the imported checkpoint (the largest
subnet computes it exactly), the optimizer and sampler state a training run starts from,
the config (``init_from`` set, so its fingerprint is kept), the space in the checkpoint's
record, and the tokenizer the folder ships (``tokenizer.json`` beside the checkpoints).
``nas search`` (``{kind: supernet, workdir: DIR}``), ``nas eval``, ``nas hf export`` read it
as they read a trained run, and ``nas train CONFIG --workdir DIR`` trains on from it.

Everything is written into a temporary sibling and renamed at the end, so a failed import
leaves nothing behind and an existing run is never touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jax
import yaml

from search_spaces import SearchSpace, load_space
from search_spaces.errors import NasError


def import_run(
    cfg: dict[str, Any], workdir: str | Path, *, space: SearchSpace | None = None, field: str = "init_from"
) -> Path:
    """Writes ``workdir``, a step-0 run of ``cfg`` (a training config whose ``init_from`` is
    the folder and whose ``space`` fits it; or ``space``, kept as ``space.yaml`` in the run and
    named by its config); ``field`` names what gave the folder in error messages."""
    from supernet import checkpoint, data, pretrained
    from supernet.optim import make_optimizer
    from supernet.samplers import make_sampler

    workdir = Path(workdir)
    if not cfg.get("init_from"):
        raise NasError("field 'init_from': the Hugging Face folder to import is not set")
    if workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir())):
        raise NasError(f"field '--workdir': '{workdir}' exists and is not empty (give a new folder)")
    if space is not None:
        cfg = {**cfg, "space": str((workdir / "space.yaml").resolve())}
    else:
        space = load_space(cfg["space"])
    params = pretrained.load_params(cfg["init_from"], space, order=cfg["init_order"], field=field)
    tx = make_optimizer(cfg)
    opt_state = tx.init(params)
    sampler = make_sampler(
        cfg["sampler"]["name"], space, run_steps=cfg["steps"], **dict(cfg["sampler"].get("options") or {})
    )
    _, sampler_key, run_key = jax.random.split(jax.random.key(cfg["seed"]), 3)  # as supernet.train
    meta = {
        "step": 0,
        "data_position": 0,
        "sampler_state": sampler.init(sampler_key),
        "key": checkpoint.key_to_json(run_key),
        "config": cfg,
        "space": space.to_dict(),
        "init_fingerprint": pretrained.fingerprint(cfg["init_from"]),
    }
    tmp = workdir.with_name(f".{workdir.name}.tmp-import")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        data.load(space, pretrained.with_tokenizer(cfg["data"], cfg["init_from"]), home=tmp)  # the tokenizer
        if cfg["space"] == str((workdir / "space.yaml").resolve()):
            (tmp / "space.yaml").write_text(yaml.safe_dump(space.to_dict(), sort_keys=False))
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1, sort_keys=True))
        mngr = checkpoint.manager(tmp)
        checkpoint.save(mngr, 0, {"params": params, "opt_state": opt_state}, meta)
        mngr.wait_until_finished()
        mngr.close()
        if workdir.is_dir():
            workdir.rmdir()  # empty, checked above
        tmp.rename(workdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return workdir
