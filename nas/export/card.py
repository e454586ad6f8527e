"""The model card (``README.md``) of an exported bundle, written from its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from supernet.tasks.data_report import accuracy_note, report_lines


def _fmt(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:g}"


def card_text(config: Mapping[str, Any]) -> str:
    arch, space = config["arch"], config["space"]
    lines = [
        f"# Subnet of `{space['name']}`",
        "",
        "Standalone transformer exported from a weight-sharing supernet.",
        "",
        "## Architecture",
        "",
        "```json",
        __import__("json").dumps(arch, sort_keys=True),
        "```",
        "",
        "| quantity | value |",
        "| --- | --- |",
        f"| parameters | {_fmt(config['complexity']['params'])} |",
        f"| FLOPs (batch 1) | {_fmt(config['complexity']['flops'])} |",
        f"| weights stored as | {config.get('weights_dtype', 'float32')} |",
    ]
    seen = config.get("validation") or {}
    for k, v in sorted(config.get("metrics", {}).items()):
        note = f" ({accuracy_note(seen['examples'])})" if k == "accuracy" and seen.get("examples") else ""
        lines.append(f"| {k}{note} | {v:.4g} |")
    bounds = config.get("predicted_latency_bounds_ms") or {}
    for dev, ms in sorted(config.get("predicted_latency_ms", {}).items()):
        lines.append(f"| predicted latency on `{dev}` (mean) | {ms:.3f} ms |")
        for q, b in sorted((bounds.get(dev) or {}).items()):
            pct = float(f"0.{q[1:]}") * 100
            lines.append(
                f"| predicted latency on `{dev}`, {pct:g} % upper bound (calibrated, `latency_ms[{dev}].{q}`) "
                f"| {b:.3f} ms |"
            )
    m = config.get("measured_latency") or {}
    if "median_ms" in m:
        lines.append(
            f"| measured latency here ({m.get('backend', 'jax')}, batch 1) | {m['median_ms']:.3f} ms |"
        )
    for dev, ms in sorted((m.get("on_scale") or {}).items()):
        f = m["speed_factor"][dev]
        lines.append(
            f"| the same on `{dev}`'s speed scale (the machine ran at {f:.2f}x its usual time) | {ms:.3f} ms |"
        )
    if config.get("onnx_max_abs_error") is not None:
        lines.append(f"| ONNX vs JAX max abs error | {config['onnx_max_abs_error']:.1e} |")
    f = config.get("finetune")
    if f:
        for k in sorted(f["after"]):
            lines.append(
                f"| {k} before -> after {f['steps']} fine-tuning steps | {f['before'][k]:.4g} -> {f['after'][k]:.4g} |"
            )
    lines += _data_lines(config.get("data_report"), seen)
    lines += ["", "## Provenance", ""]
    for k, v in sorted(config.get("provenance", {}).items()):
        lines.append(f"- {k}: `{v}`")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "import nas",
        "subnet = nas.load_subnet('THIS_FOLDER')",
        "logits = subnet(x)   # x: a batch of inputs",
        "```",
        "",
        "`model.stablehlo` (jax.export, symbolic batch) and `model.onnx` run without this code.",
        "",
    ]
    return "\n".join(lines)


def _data_lines(report: Mapping[str, Any] | None, seen: Mapping[str, Any]) -> list[str]:
    """The card's data section: what training read, then a classifier's per-class accuracy
    and confusion matrix on the validation examples the search scored."""
    out = []
    if report:
        out += ["", "## Data", "", "```", *report_lines(report), "```"]
    if seen.get("per_class"):
        out += [
            "",
            f"## Validation (inherited weights): accuracy {seen['accuracy']:.4g} {accuracy_note(seen['examples'])}",
            "",
            "The validation split is set by `data.val_fraction` (default 0.1) or `data.val` in the training config.",
            "",
            "| class | validation examples | accuracy |",
            "| --- | ---: | ---: |",
        ]
        for name, c in seen["per_class"].items():
            acc = "-" if c["accuracy"] is None else f"{c['accuracy']:.4g}"
            out.append(f"| {name} | {c['examples']:,} | {acc} |")
        names, matrix = seen["confusion"]["classes"], seen["confusion"]["matrix"]
        out += ["", "Confusion matrix (rows: true class, columns: predicted):", ""]
        out += ["| true / predicted | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
        out += [
            f"| {n} | " + " | ".join(f"{v:,}" for v in row) + " |"
            for n, row in zip(names, matrix, strict=True)
        ]
    return out


def write_card(folder: Path, config: Mapping[str, Any]) -> None:
    (Path(folder) / "README.md").write_text(card_text(config))
