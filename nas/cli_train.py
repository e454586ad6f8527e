"""``nas train`` and ``nas eval``: train a supernet, score subnets with inherited weights.

    nas train experiments/train_vit_mnist.yaml --workdir runs/vit [--set steps=200 --set sampler.name=uniform]
    nas train experiments/train_gpt2_tiny.yaml --init-from GPT2_FOLDER --workdir runs/from-gpt2
    nas eval --workdir runs/vit --arch arch.json
    nas train CONFIG --workdir SHARED/run --distributed        # in every process a scheduler starts
    nas train CONFIG --workdir SHARED/run --workers 4 --address HEAD:6379 --use-gpu   # Ray Train

``train`` shows a progress bar on stderr with the loss (and the sampler's bin) in
its postfix and ends with a short summary; every ``log_every`` steps a JSON record
goes to ``WORKDIR/metrics.jsonl`` (``--log-format json``: on stdout too, one per
line).  Run it again with the same workdir to resume from the latest checkpoint.

``--distributed`` joins the processes of one run (one per host) through
``jax.distributed`` (:mod:`supernet.distributed`: ``NAS_COORDINATOR`` /
``NAS_NUM_PROCESSES`` / ``NAS_PROCESS_ID``, or JAX's own SLURM / Open MPI detection);
the workdir must be a path every process reaches.  ``--workers N`` starts the N
processes as Ray Train workers (:mod:`nas.cluster_train`) on a local Ray or the cluster
at ``--address``; a worker that dies restarts the group from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nas import terminal


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a supernet from a config YAML (resumes in WORKDIR)")
    t.add_argument("config", help="CONFIG.yaml (see experiments/)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    t.add_argument("--workdir", default=None, help="run folder (default: runs/<config name>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar, nothing on stdout")
    terminal.add_flag(t)
    t.add_argument(
        "--init-from",
        default=None,
        metavar="DIR",
        help="start from a Hugging Face GPT-2 folder (config.json + model.safetensors); distils by default",
    )
    t.add_argument(
        "--distributed",
        action="store_true",
        help="one of several processes of a run (jax.distributed from NAS_COORDINATOR, NAS_NUM_PROCESSES, "
        "NAS_PROCESS_ID or the scheduler's environment); WORKDIR must be shared",
    )
    t.add_argument("--workers", type=int, default=None, help="train with N Ray Train workers (JaxTrainer)")
    t.add_argument("--address", default=None, metavar="HOST:PORT", help="the Ray cluster of --workers")
    t.add_argument("--use-gpu", action="store_true", help="one GPU per --workers worker (ScalingConfig)")
    t.add_argument(
        "--resources-per-worker", default=None, metavar="JSON", help='e.g. \'{"CPU": 4, "GPU": 1}\''
    )
    t.add_argument(
        "--max-failures",
        type=int,
        default=1,
        help="group restarts after a worker dies (--workers; default 1)",
    )
    t.add_argument(
        "--placement-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="--workers: how long the workers may lack a lost node's resources before training stops "
        "(default 300)",
    )
    t.set_defaults(func=cmd_train)
    e = sub.add_parser(
        "eval",
        help="inherited validation metrics of architectures from a trained supernet (one JSON line each: "
        "the metrics, val_examples, and for classifiers accuracy_step, per_class accuracy and the confusion matrix)",
    )
    e.add_argument("--workdir", required=True, help="folder of a 'nas train' run")
    e.add_argument(
        "--arch", required=True, nargs="+", help="ARCH.json files (an object or a list of objects)"
    )
    e.set_defaults(func=cmd_eval)


def cmd_train(args: argparse.Namespace) -> int:
    from search_spaces.errors import NasError
    from supernet.config import load_config

    overrides = list(args.set)
    if args.init_from is not None:
        overrides.append(f"init_from={json.dumps(str(Path(args.init_from).resolve()))}")
    cfg = load_config(args.config, overrides)
    workdir = args.workdir or str(Path("runs") / Path(args.config).stem)
    ray_flags = [f for f, v in (("--address", args.address), ("--use-gpu", args.use_gpu)) if v]
    if args.resources_per_worker is not None:
        ray_flags.append("--resources-per-worker")
    if args.workers is None and ray_flags:
        raise NasError(f"field '{ray_flags[0]}': only with --workers N")
    if args.workers is not None:
        from nas.cluster_train import parse_resources, train_on_ray

        if args.distributed:
            raise NasError("field '--distributed': not with --workers (Ray Train starts the processes)")
        train_on_ray(
            cfg,
            workdir,
            workers=args.workers,
            address=args.address,
            use_gpu=args.use_gpu,
            resources_per_worker=parse_resources(args.resources_per_worker),
            max_failures=args.max_failures,
            placement_timeout=args.placement_timeout,
            quiet=args.quiet,
            log_format=args.log_format,
        )
        return 0
    if args.distributed:
        from supernet import distributed

        distributed.initialize()
    train(cfg, workdir, terminal.Terminal("quiet" if args.quiet else args.log_format))
    return 0


def train(cfg: dict, workdir: str | Path, term: terminal.Terminal) -> dict:
    """:func:`supernet.train.train_and_evaluate` reporting through ``term`` (its bar and
    records), then the summary: steps and their rate, compiles, the final metrics."""
    from supernet.train import train_and_evaluate

    fresh = not Path(workdir).exists()
    try:
        final = train_and_evaluate(cfg, workdir, reporter=_ShowsData(term))
    except BaseException:
        if fresh:
            discard_unsaved(workdir)  # a run that failed before its first checkpoint leaves nothing
        raise
    if term.last_bar is not None:
        term.lines(
            terminal.training_summary(final, term.last_bar, metrics_file=str(Path(workdir) / "metrics.jsonl"))
        )
    return final


class _ShowsData:
    """``term``, with the trainer's first record, what was read (``{"data": report}``,
    :mod:`supernet.tasks.data_report`), also shown as readable lines."""

    def __init__(self, term: terminal.Terminal) -> None:
        self.term = term

    def bar(self, **kw):
        return self.term.bar(**kw)

    def record(self, obj) -> None:
        if "data" in obj:
            from supernet.tasks.data_report import report_lines

            self.term.lines(report_lines(obj["data"]))
        self.term.record(obj)


def discard_unsaved(workdir: str | Path) -> None:
    """Removes ``workdir`` (made by this command) unless it holds a checkpoint to resume from."""
    import shutil

    from supernet.checkpoint import CKPT_DIR

    ckpts = Path(workdir) / CKPT_DIR
    if not (ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir())):
        shutil.rmtree(workdir, ignore_errors=True)


def _read_archs(path: str, space) -> list:
    from search_spaces.errors import InvalidArchError, NasError

    p = Path(path)
    if not p.is_file():
        raise NasError(f"field '--arch': file '{path}' does not exist")
    try:
        obj = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise NasError(f"field '--arch': '{path}' is not valid JSON ({e.msg})") from None
    objs = obj if isinstance(obj, list) else [obj]
    try:
        return [space.parse(o) for o in objs]
    except InvalidArchError as e:
        raise NasError(f"{path}: {e}") from None


def cmd_eval(args: argparse.Namespace) -> int:
    from supernet import checkpoint, data
    from supernet.evaluation import class_breakdown, evaluate

    space, params, config = checkpoint.load(args.workdir)
    archs = [a for path in args.arch for a in _read_archs(path, space)]
    ds = data.load(space, config.get("data"), home=args.workdir)
    batches = data.val_batches(
        ds, batch_size=config["eval_batch_size"], max_examples=config["eval_max_examples"]
    )
    n = sum(len(y) for _, y in batches)  # whole batches of at most eval_max_examples
    classes = (data.report(ds) or {}).get("classes")
    for arch, metrics in zip(archs, evaluate(space, params, archs, batches), strict=True):
        out = {"arch": arch.to_dict(), **metrics, "val_examples": n}
        per = class_breakdown(space, params, arch, batches, classes)
        if per is not None:  # a classifier: how coarse its accuracy is, per class, the confusions
            out |= {k: per[k] for k in ("accuracy_step", "per_class", "confusion")}
        print(json.dumps(out, sort_keys=True))
    return 0
