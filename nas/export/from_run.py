"""Exporting the chosen subnets of a finished search (the library behind ``nas export``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas.hw_metrics import parse as parse_hw
from search_spaces import NasError

SUBNET_PREFIX = "subnet-"


def check_collection_out(out: Path) -> None:
    """``--out`` of several bundles: a new or empty folder, or one that holds only bundles of ours."""
    if not out.exists():
        return
    if not out.is_dir():
        raise NasError(f"field '--out': '{out}' is a file; refusing to overwrite it")
    foreign = sorted(
        p.name
        for p in out.iterdir()
        if not (p.is_dir() and p.name.startswith(SUBNET_PREFIX) and (p / "config.json").is_file())
    )
    if foreign:
        raise NasError(
            f"field '--out': '{out}' exists and holds other files ({foreign[0]!r}); "
            "give a new folder for the bundles"
        )


def export_run(
    run_dir: str | Path, *, select: str, out: str | Path, onnx: bool = True, dtype: str = "f32"
) -> list[Path]:
    """Exports the selected subnets of a search run; returns the bundle paths.  ``dtype``
    (``'f32'`` or ``'bf16'``) is what the bundles' weights are stored in."""
    from nas.export.bundle import weights_dtype_of, write_bundle
    from nas.export.select import select_records, supernet_workdir
    from supernet import checkpoint
    from supernet.data import RUN_FILES
    from supernet.extract import extract

    weights_dtype = weights_dtype_of(dtype)
    cfg, records = select_records(run_dir, select)
    out = Path(out)
    if len(records) > 1:
        check_collection_out(out)
    workdir = supernet_workdir(cfg)
    space, params, train_cfg = checkpoint.load(workdir)
    if space.to_dict() != cfg.space.to_dict():
        raise NasError(
            f"supernet '{workdir}' was trained on space '{space.name}', but the search used "
            f"'{cfg.space.name}' with other dimensions"
        )
    side_files = [Path(workdir) / f for f in RUN_FILES if (Path(workdir) / f).is_file()]  # tokenizer ...
    seen = validation_view(space, params, train_cfg, workdir)
    paths = []
    for r in records:
        arch = space.parse(r["arch"])
        target = out if len(records) == 1 else out / f"{SUBNET_PREFIX}{r['index']:05d}"
        metrics = {
            k: v for k, v in r["metrics"].items() if getattr(parse_hw(k), "base", None) != "latency_ms"
        }
        latency, bounds = predicted_latency(space, arch, r["metrics"])
        provenance = {
            "search_run": str(Path(run_dir).resolve()),
            "search_index": r["index"],
            "search_seed": cfg.seed,
            "supernet_checkpoint": str(Path(workdir).resolve()),
            "supernet_step": train_cfg.get("restored_step"),
            "supernet_seed": train_cfg.get("seed"),
            "supernet_precision": train_cfg.get("precision", "f32"),  # its weights are float32 either way
        }
        paths.append(
            write_bundle(
                target,
                space=space,
                arch=arch,
                variables=extract(params, arch, space=space),
                provenance=provenance,
                metrics=metrics,
                predicted_latency_ms=latency,
                onnx=onnx,
                extra={"data": train_cfg.get("data") or {}}
                | seen(arch)
                | ({"predicted_latency_bounds_ms": bounds} if bounds else {}),
                files=side_files,
                weights_dtype=weights_dtype,
            )
        )
    return paths


def validation_view(space, params, train_cfg: dict, workdir) -> Any:
    """``arch -> {"data_report": ..., "validation": ...}`` for a bundle's config and card: what
    the supernet's training read (its ``data.json``) and, for a classifier, the subnet's
    per-class accuracy and confusion matrix on the validation batches the search scored
    (:func:`supernet.evaluation.class_breakdown`); ``{}`` for runs and kinds without them."""
    from supernet import data, tasks
    from supernet.evaluation import class_breakdown

    report = data.read_report(workdir)
    if report is None or not tasks.get(space).classifies:
        return lambda arch: {"data_report": report} if report else {}
    try:
        ds = data.load(space, train_cfg.get("data"), home=workdir)
    except NasError:  # the training data moved since: the bundle is still worth writing
        return lambda arch: {"data_report": report}
    batches = data.val_batches(
        ds, batch_size=train_cfg["eval_batch_size"], max_examples=train_cfg["eval_max_examples"]
    )
    return lambda arch: {
        "data_report": report,
        "validation": class_breakdown(space, params, arch, batches, report.get("classes")),
    }


def predicted_latency(space, arch, metrics: dict) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """({device: mean ms}, {device: {"q90": bound ms, ...}}) of a searched arch: the search's
    values, plus the 0.9 bound of every device whose predictor has calibrated intervals."""
    from nas.hw_metrics import fill_latency, metric_name

    mean: dict[str, float] = {}
    bounds: dict[str, dict[str, float]] = {}
    for k, v in metrics.items():
        h = parse_hw(k)
        if h is None or h.base != "latency_ms":
            continue
        if h.q is None:
            mean[h.device] = float(v)
        else:
            bounds.setdefault(h.device, {})[k.rsplit(".", 1)[1]] = float(v)
    for dev in mean:
        if "q90" not in bounds.get(dev, {}):
            try:
                (v,) = fill_latency(space, [arch], metric_name("latency_ms", dev, 0.9))
            except NasError:  # a predictor fitted without calibration scores
                continue
            bounds.setdefault(dev, {})["q90"] = float(v)
    return mean, bounds
