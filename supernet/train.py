"""The one supernet trainer: ``train_and_evaluate(config, workdir)``.

Each optimizer step the sampler proposes several subnets (its ``k``); their
gradients on the same batch are accumulated into one AdamW update (warm-up +
cosine schedule, global-norm clipping; Loshchilov & Hutter, ICLR 2019).  With
``distill`` the largest subnet learns from the labels and every other subnet
from the soft predictions of a teacher (inplace distillation with the sandwich
rule, BigNAS, Yu et al., ECCV 2020): the largest subnet itself on the same batch
(``distill_teacher: largest``), or the frozen imported checkpoint
(``distill_teacher: pretrained``).  ``init_from`` starts the supernet from a
GPT-2 folder (:mod:`supernet.pretrained`); distillation is then on by default.

Data parallel: the batch is split over all JAX devices, of every process when
``jax.distributed`` runs (:mod:`supernet.distributed`), along a ``data`` mesh axis
(``jax.sharding``); params and optimizer state are replicated.  Each process reads
only its rows of the global batch; every process draws the same subnets (the
sampler's state is a pure function of the seed and the losses, which are means
over the global batch and so equal everywhere); process 0 alone logs.

Every ``checkpoint_every`` steps an Orbax checkpoint stores params, optimizer
state, sampler state, step (= data position) and the PRNG key, so a run killed
at any point and started again continues exactly as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from search_spaces import SearchSpace, load_space
from search_spaces.errors import NasError
from search_spaces.progress import SILENT, Progress
from supernet import checkpoint, data, distributed, model, pretrained, versions
from supernet.config import distill_on
from supernet.evaluation import evaluate
from supernet.losses import cross_entropy
from supernet.optim import make_optimizer
from supernet.samplers import make_sampler

COMPUTE_DTYPES = {"f32": jnp.float32, "bf16": jnp.bfloat16}


def compute_copy(params, x, precision: str):
    """The weights and input a forward computes with: float32 as they are, or a bfloat16 copy of
    the float32 master weights (mixed precision, Micikevicius et al., ICLR 2018; the gradient of the
    cast flows back to the float32 weights, so AdamW's update and state stay float32)."""
    if precision == "f32":
        return params, x
    dt = COMPUTE_DTYPES[precision]
    params = jax.tree.map(lambda a: a.astype(dt) if jnp.issubdtype(a.dtype, jnp.floating) else a, params)
    return params, (x.astype(dt) if jnp.issubdtype(x.dtype, jnp.floating) else x)


def loss_fn(
    params, x, y, codes, soft, ws=None, *, geo: model.Geometry, embed_dim: int, precision: str = "f32"
):
    """Mean cross-entropy against labels ``y``, or against ``soft`` probabilities when given,
    over the positions with a label (``y >= 0``; :mod:`supernet.losses`).

    ``ws``: the layer stack's workspace (:func:`supernet.model.stack_workspace`) or None.
    ``precision``: ``bf16`` computes the forward and backward in bfloat16 from a copy of the
    float32 weights; the logits, the softmax and the loss are float32 either way."""
    params, x = compute_copy(params, x, precision)
    logits = model.apply_codes(params, x, codes, ws, geo=geo, embed_dim=embed_dim).astype(jnp.float32)
    return cross_entropy(logits, y, soft), logits  # over labelled positions (y >= 0)


class StepFns:
    """The compiled pieces of one training step (one compile per embed width and loss kind).

    It holds the layer stack's workspace per width and input shape (the buffers of the saved
    layer inputs, :mod:`supernet.layer_stack`): a step takes it donated and returns it filled,
    so the buffers are reused in place instead of zero-filled every step."""

    def __init__(self, geo: model.Geometry, tx: optax.GradientTransformation, *, precision: str = "f32"):
        def grad(params, x, y, codes, soft, ws=None, *, geo, embed_dim):
            (loss, logits), (grads, ws) = jax.value_and_grad(loss_fn, argnums=(0, 5), has_aux=True)(
                params, x, y, codes, soft, ws, geo=geo, embed_dim=embed_dim, precision=precision
            )
            return (loss, logits), grads, ws

        self.grad = jax.jit(grad, static_argnames=("geo", "embed_dim"), donate_argnames=("ws",))
        self.add = jax.jit(lambda a, b: jax.tree.map(jnp.add, a, b))

        def update(params, opt_state, grads, n):
            grads = jax.tree.map(lambda g: g / n, grads)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        self.update = jax.jit(update)

        def grad_update(params, opt_state, x, y, codes, ws, *, geo, embed_dim):
            (loss, _), grads, ws = grad(params, x, y, codes, None, ws, geo=geo, embed_dim=embed_dim)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss, ws

        # one subnet per step: gradient and AdamW in one program, so XLA fuses the supernet-sized
        # gradient into the update instead of writing it out and reading it back (5-8 % of a step)
        self.grad_update = jax.jit(grad_update, static_argnames=("geo", "embed_dim"), donate_argnames=("ws",))
        self.soft = jax.jit(
            lambda params, x, codes, *, geo, embed_dim: jax.nn.softmax(
                model.apply_codes(params, x, codes, geo=geo, embed_dim=embed_dim)
            ),
            static_argnames=("geo", "embed_dim"),
        )
        self.geo = geo
        self.dtype = COMPUTE_DTYPES[precision]
        self._ws: dict = {}

    def take_workspace(self, x: jax.Array, embed_dim: int) -> tuple:
        """The workspace for inputs like ``x`` at width ``embed_dim``, to donate to a step and hand
        back with :meth:`put_workspace` (made once, laid out like ``x``'s batch: a data-parallel
        step keeps each device's share of the batch on that device)."""
        key = (embed_dim, x.shape, getattr(x, "sharding", None))
        if key not in self._ws:
            ws = model.stack_workspace(self.geo, embed_dim, x.shape, dtype=self.dtype)
            # placed like x: a committed x makes a step's outputs committed, and an uncommitted
            # workspace would then make the second step compile again
            if getattr(x, "committed", False):
                sharding = x.sharding
                if isinstance(sharding, NamedSharding):  # (L, B, ...): the batch axis is the second
                    sharding = NamedSharding(sharding.mesh, P(None, *sharding.spec[:1]))
                ws = jax.device_put(ws, sharding)
            self._ws[key] = ws
        return self._ws.pop(key)

    def put_workspace(self, x: jax.Array, embed_dim: int, ws: tuple) -> None:
        """Keeps the workspace a step returned for the next step with inputs like ``x``."""
        self._ws[(embed_dim, x.shape, getattr(x, "sharding", None))] = ws

    def compiles(self) -> int:
        """XLA compiles so far (the cache sizes of the jitted functions)."""
        return sum(f._cache_size() for f in (self.grad, self.add, self.update, self.soft, self.grad_update))

    def teacher(self, params, x, arch, *, put: Callable) -> jax.Array:
        """Soft predictions of ``arch`` under ``params`` (a frozen teacher's), no gradient."""
        E, codes = model.encode_arch(self.geo, arch)
        return self.soft(params, x, put(codes), geo=self.geo, embed_dim=E)

    def step(self, params, opt_state, x, y, archs, *, distill: bool, put: Callable, teacher=None):
        """One optimizer step over ``archs``.

        With ``distill`` the first arch (the largest) learns from the labels and the others
        from ``teacher`` soft targets when given, else from the first arch's own predictions.
        """
        if len(archs) == 1:  # the first arch learns from the labels, so no teacher is involved
            E, codes = model.encode_arch(self.geo, archs[0])
            params, opt_state, loss, ws = self.grad_update(
                params, opt_state, x, y, put(codes), self.take_workspace(x, E), geo=self.geo, embed_dim=E
            )
            self.put_workspace(x, E, ws)
            return params, opt_state, [float(loss)]
        grads, losses, soft = None, [], None
        for i, arch in enumerate(archs):
            E, codes = model.encode_arch(self.geo, arch)
            (loss, logits), g, ws = self.grad(
                params, x, y, put(codes), soft, self.take_workspace(x, E), geo=self.geo, embed_dim=E
            )
            self.put_workspace(x, E, ws)
            if distill and i == 0:
                soft = teacher if teacher is not None else jax.nn.softmax(jax.lax.stop_gradient(logits))
            grads = g if grads is None else self.add(grads, g)
            losses.append(loss)
        params, opt_state = self.update(params, opt_state, grads, float(len(archs)))
        return params, opt_state, [float(v) for v in jax.device_get(losses)]


def _space(cfg: dict) -> SearchSpace:
    return load_space(cfg["space"])


def _metrics_file(workdir: Path, keep_until: int) -> Any:
    """metrics.jsonl with lines after step ``keep_until`` dropped (they are recomputed on resume)."""
    path = workdir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= keep_until]
    path.write_text("".join(ln + "\n" for ln in kept))
    return path.open("a")


def train_and_evaluate(
    cfg: dict[str, Any], workdir: str | Path, *, reporter: Progress | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Trains (or resumes) the supernet of ``cfg`` in ``workdir``; returns the final metrics.

    Every ``log_every`` steps a record goes to ``metrics.jsonl`` and to ``reporter``
    (:mod:`search_spaces.progress`: the CLI passes a :class:`nas.terminal.Terminal`), which
    also gets a bar over the steps with the loss and the sampler's bin; without one, or with
    ``quiet``, nothing is shown. The trainer prints nothing itself."""
    primary = distributed.is_primary()
    term = SILENT if quiet or reporter is None or not primary else reporter
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    versions.check_across_processes()  # mixed jax/flax/... across hosts: one line, before any step
    distributed.check_shared_dir(workdir)  # every process writes checkpoints there
    space = _space(cfg)
    geo = model.geometry(space)
    devices = jax.devices()  # every process's, under jax.distributed
    if cfg["batch_size"] % len(devices):
        procs = f" of {jax.process_count()} processes" if jax.process_count() > 1 else ""
        raise NasError(
            f"config: field 'batch_size' ({cfg['batch_size']}) must be divisible by the {len(devices)} "
            f"devices{procs}"
        )
    mesh = Mesh(np.asarray(devices), ("data",))
    replicated, batch_sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    # this process's rows of each global batch (None: one process reads the whole batch)
    rows = distributed.local_rows(batch_sharded, cfg["batch_size"]) if jax.process_count() > 1 else None
    opts = dict(cfg["sampler"].get("options") or {})
    sampler = make_sampler(cfg["sampler"]["name"], space, run_steps=cfg["steps"], **opts)
    tx = make_optimizer(cfg)
    fns = StepFns(geo, tx, precision=cfg.get("precision", "f32"))

    key = jax.random.key(cfg["seed"])
    init_key, sampler_key, run_key = jax.random.split(key, 3)
    distill = distill_on(cfg)
    imported, teacher_params = None, None
    if cfg["init_from"]:
        imported = pretrained.load_params(cfg["init_from"], space, order=cfg["init_order"])
    if distill and cfg["distill_teacher"] == "pretrained":
        teacher_params = jax.device_put(imported, replicated)  # frozen: never updated
    params = jax.device_put(imported if imported is not None else model.init(space, init_key), replicated)
    opt_state = jax.jit(tx.init, out_shardings=replicated)(params)
    sampler_state = sampler.init(sampler_key)
    step = 0

    fingerprint = pretrained.fingerprint(cfg["init_from"]) if cfg["init_from"] else None
    mngr = checkpoint.manager(workdir)
    found = checkpoint.restore(mngr, {"params": params, "opt_state": opt_state})
    if found is not None:
        step, arrays, meta = found
        if meta["space"] != space.to_dict():
            raise NasError(f"field 'space': workdir '{workdir}' holds a run of another space")
        if (meta["config"].get("data") or {}) != cfg["data"]:
            raise NasError(
                f"field 'data': workdir '{workdir}' was trained on {meta['config'].get('data') or 'the built-in data'}, "
                f"not {cfg['data'] or 'the built-in data'} (use a new workdir)"
            )
        if cfg["init_from"] and meta.get("init_fingerprint", fingerprint) != fingerprint:
            raise NasError(
                f"field 'init_from': '{cfg['init_from']}' is not the checkpoint this run in '{workdir}' started from"
            )
        params, opt_state = arrays["params"], arrays["opt_state"]
        sampler_state = meta["sampler_state"]
        run_key = checkpoint.key_from_json(meta["key"])
    data_cfg = pretrained.with_tokenizer(cfg["data"], cfg["init_from"])  # the checkpoint's tokenizer.json
    if not primary:  # process 0 writes the run's tokenizer first; the others read it
        distributed.sync("nas-data-written")
    ds = data.load(space, data_cfg, home=workdir)  # after the checks above: the run's tokenizer is kept
    log = None
    if primary:
        report = data.save_report(ds, workdir)  # what was read: data.json, and the reporter's first record
        if report:
            term.record({"data": report})
        (workdir / "config.json").write_text(json.dumps(cfg, indent=1, sort_keys=True))
        log = _metrics_file(workdir, step)
        distributed.sync("nas-data-written")

    def emit(record: dict) -> None:
        if log is None:
            return
        line = json.dumps(record, sort_keys=True)
        log.write(line + "\n")
        log.flush()
        term.record(record)

    def put(codes):
        return jax.device_put(codes, replicated)

    def meta() -> dict:
        return {
            "step": step,
            "data_position": step,
            "sampler_state": sampler_state,
            "key": checkpoint.key_to_json(run_key),
            "config": cfg,
            "space": space.to_dict(),
            "init_fingerprint": fingerprint,
        }

    largest = space.largest()
    # the testing kill happens once per workdir, so a run restarted by Ray Train goes on
    crashed = workdir / ".crashed"
    crash_at = None if crashed.exists() else cfg["crash_after_step"]
    bar = term.bar(total=cfg["steps"], initial=step, desc="train")
    while step < cfg["steps"]:
        step_key = jax.random.fold_in(run_key, step)
        archs, sampler_state = sampler.sample(step_key, sampler_state, step)
        if distill and archs[0] != largest:
            archs = [largest, *archs]
        xy = data.train_batch(ds, step=step, batch_size=cfg["batch_size"], seed=cfg["seed"], rows=rows)
        x, y = distributed.global_batch(xy, batch_sharded, cfg["batch_size"])
        soft = None if teacher_params is None else fns.teacher(teacher_params, x, largest, put=put)
        params, opt_state, losses = fns.step(
            params, opt_state, x, y, archs, distill=distill, put=put, teacher=soft
        )
        sampler_state = sampler.update(sampler_state, archs, losses)
        step += 1
        now = {"loss": float(np.mean(losses)), **sampler.describe(sampler_state)}
        bar.update(1, **now)  # the loss (and the sampler's bin) in the bar's postfix
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            emit({"step": step, "losses": losses, **now})
        if step % cfg["checkpoint_every"] == 0 or step == cfg["steps"]:
            checkpoint.save(mngr, step, {"params": params, "opt_state": opt_state}, meta())
        if crash_at is not None and step == crash_at:
            if log is not None:
                log.close()
                crashed.write_text(f"{step}\n")
            os.kill(
                os.getpid(), signal.SIGKILL
            )  # a real kill -9: no cleanup, a checkpoint may be half written
    bar.close()
    mngr.wait_until_finished()
    mngr.close()
    vb = data.val_batches(ds, batch_size=cfg["eval_batch_size"], max_examples=cfg["eval_max_examples"])
    results = evaluate(space, params, [space.smallest(), largest], vb)
    final = {
        "step": step,
        "final": {"smallest": results[0], "largest": results[1]},
        "compiles": fns.compiles(),
        "devices": len(devices),
        "val_examples": sum(len(y) for _, y in vb),  # how coarse the accuracy is: steps of 1/n
        **({"processes": jax.process_count()} if jax.process_count() > 1 else {}),
    }
    emit(final)
    if log is not None:
        log.close()
    return final
