"""Writing a standalone subnet bundle.

A bundle is a folder anyone can use without the supernet::

    config.json       architecture, space declaration, provenance, metrics
    weights/          Orbax checkpoint of the standalone Flax parameters
    model.stablehlo   jax.export artifact (weights inside, symbolic batch size)
    model.onnx        the same forward through jax2onnx, checked with onnxruntime
    README.md         model card: params, FLOPs, metrics, predicted and measured latency

The weights are float32, or bfloat16 on request (``weights_dtype``, ``nas export --dtype bf16``:
half the size; the forward still computes in float32 from them, so outputs differ from float32
weights only by the weights' rounding, ~3 significant digits).  ``config.json`` records
``weights_dtype``; a bundle without it is float32.

``config.json`` records a sha256 manifest (``checksums``, :mod:`search_spaces.integrity`)
of every other file but the card; loading checks it, so a truncated, altered, missing or
stray file under ``weights/`` is named instead of silently giving wrong answers
(``nas export --verify BUNDLE`` checks without loading).  Format 1 bundles, written
before the manifest, load without that check.  The fields are those of
``nas/schemas/bundle.schema.json``.

Bundles are written into a temporary sibling folder and renamed into place at
the end, so an existing bundle is never half-overwritten.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, NasError, SearchSpace, complexity
from search_spaces.integrity import file_manifest
from supernet import any_model, standalone

FORMAT_VERSION = 2  # 2: the checksum manifest
READABLE_VERSIONS = (1, 2)  # 1: no manifest (nothing to verify)
UNCHECKED = ("config.json", "README.md")  # the files the manifest does not cover
WEIGHT_DTYPES = {"f32": "float32", "bf16": "bfloat16"}  # 'nas export --dtype' -> config's weights_dtype


def weights_dtype_of(value: str, *, field: str = "--dtype") -> str:
    """``'f32'``/``'bf16'`` (or ``'float32'``/``'bfloat16'``) as the name a bundle records."""
    if value in WEIGHT_DTYPES.values():
        return value
    if value not in WEIGHT_DTYPES:
        raise NasError(f"field '{field}': expected one of {list(WEIGHT_DTYPES)}, got {value!r}")
    return WEIGHT_DTYPES[value]


def cast_weights(variables: Any, weights_dtype: str) -> Any:
    """``variables`` as numpy arrays with every floating-point leaf in ``weights_dtype``."""
    dt = jnp.dtype(weights_dtype)
    return jax.tree.map(
        lambda a: (
            np.asarray(a).astype(dt) if jnp.issubdtype(np.asarray(a).dtype, jnp.floating) else np.asarray(a)
        ),
        variables,
    )


def _symbolic_input(space: SearchSpace, name: str = "batch") -> jax.ShapeDtypeStruct:
    from jax import export

    (b,) = export.symbolic_shape(name)
    x = standalone.example_input(space, 1)
    return jax.ShapeDtypeStruct((b, *x.shape[1:]), x.dtype)


def export_stablehlo(space: SearchSpace, arch: ArchConfig, variables: Any) -> bytes:
    """Serialized ``jax.export`` of the forward pass with a symbolic batch dimension."""
    from jax import export

    model = any_model.build(space, arch)
    exported = export.export(jax.jit(lambda x: model.apply(variables, x)))(_symbolic_input(space))
    return bytes(exported.serialize())


def export_onnx(
    space: SearchSpace, arch: ArchConfig, variables: Any, *, check_batch: int = 3
) -> tuple[bytes, float]:
    """ONNX bytes of the forward pass (batch dim ``B``) and its max abs error vs JAX on a random input."""
    import logging

    import jax2onnx
    import onnxruntime as ort

    logging.getLogger("onnx_ir").setLevel(logging.ERROR)
    model = any_model.build(space, arch)
    proto = jax2onnx.to_onnx(
        lambda x: model.apply(variables, x), [_symbolic_input(space, "B")], model_name="subnet"
    )
    data = proto.SerializeToString()
    sample = example_batch(space, check_batch, seed=0)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: sample})[0]
    err = float(np.abs(out - np.asarray(model.apply(variables, sample))).max())
    return data, err


def example_batch(space: SearchSpace, batch_size: int, *, seed: int = 0) -> np.ndarray:
    """A random valid input batch of the space's task (images in [0, 1], token ids ...)."""
    from supernet import tasks

    return np.asarray(tasks.get(space).random_input(space, batch_size, seed))


def check_weights(space: SearchSpace, arch: ArchConfig, variables: Any) -> None:
    """Raises NasError unless ``variables`` has exactly the standalone tree of ``arch``."""
    expected = jax.eval_shape(lambda: any_model.init(space, arch, jax.random.key(0)))
    want = {jax.tree_util.keystr(p): tuple(x.shape) for p, x in jax.tree_util.tree_leaves_with_path(expected)}
    got = {
        jax.tree_util.keystr(p): tuple(np.shape(x)) for p, x in jax.tree_util.tree_leaves_with_path(variables)
    }
    for key in sorted(set(want) | set(got)):
        if want.get(key) != got.get(key):
            raise NasError(
                f"weights do not match {arch.short()}: parameter {key} has shape {got.get(key)}, "
                f"expected {want.get(key)}"
            )


def save_weights(path: Path, variables: Any) -> None:
    import orbax.checkpoint as ocp

    ckpt = ocp.StandardCheckpointer()
    ckpt.save(path.absolute(), jax.tree.map(np.asarray, variables))
    ckpt.wait_until_finished()


def manifest(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The checksum manifest of a bundle folder: every file but ``config.json`` and ``README.md``."""
    return file_manifest(folder, sorted(p.name for p in Path(folder).iterdir() if p.name not in UNCHECKED))


def write_bundle(
    out: str | Path,
    *,
    space: SearchSpace,
    arch: ArchConfig,
    variables: Any,
    provenance: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    predicted_latency_ms: Mapping[str, float] | None = None,
    measure_latency: bool = True,
    onnx: bool = True,
    extra: Mapping[str, Any] | None = None,
    files: Sequence[str | Path] = (),
    weights_dtype: str = "float32",
) -> Path:
    """Writes a complete bundle to ``out`` atomically and returns its path.

    ``files`` are copied into the bundle (a run's ``tokenizer.json``, ``classes.json``);
    ``weights_dtype`` (``'float32'`` or ``'bfloat16'``) is what the weights, and the compiled
    models' constants, are stored in.
    """
    from nas.export.card import write_card

    weights_dtype = weights_dtype_of(weights_dtype, field="weights_dtype")
    space.validate(arch)
    check_weights(space, arch, variables)
    variables = cast_weights(variables, weights_dtype)
    out = Path(out)
    if out.exists() and not (out / "config.json").is_file():
        raise NasError(f"field '--out': '{out}' exists and is not a bundle; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        save_weights(tmp / "weights", variables)
        for f in files:
            shutil.copyfile(f, tmp / Path(f).name)
        (tmp / "model.stablehlo").write_bytes(export_stablehlo(space, arch, variables))
        onnx_err = None
        if onnx:
            data, onnx_err = export_onnx(space, arch, variables)
            if not onnx_err <= 1e-4:
                raise NasError(f"ONNX export of {arch.short()} differs from JAX by {onnx_err:.2e} (> 1e-4)")
            (tmp / "model.onnx").write_bytes(data)
        checksums = manifest(tmp)
        c = complexity(space, [arch])
        measured = {}
        if measure_latency:
            measured = measure_bundle_latency(space, arch, devices=list(predicted_latency_ms or {}))
        config = {
            "format_version": FORMAT_VERSION,
            "arch": arch.to_dict(),
            "space": space.to_dict(),
            "provenance": dict(provenance or {}),
            "metrics": {k: float(v) for k, v in (metrics or {}).items()},
            "complexity": {"params": int(c["params"][0]), "flops": int(c["flops"][0])},
            "predicted_latency_ms": {k: float(v) for k, v in (predicted_latency_ms or {}).items()},
            "measured_latency": measured,
            "onnx_max_abs_error": onnx_err,
            "weights_dtype": weights_dtype,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "checksums": checksums,
        }
        config.update(
            {
                k: v
                for k, v in (extra or {}).items()
                if k not in ("checksums", "format_version", "weights_dtype")
            }
        )
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        write_card(tmp, config)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{time.time_ns()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


BUNDLE_TIMING = {"backend": "jax", "batch_size": 1, "seq_len": None}


def _references(device: str, space: SearchSpace) -> dict[str, float]:
    """The device's reference times when its campaign was timed as a bundle is (batch-1 JAX
    forward), else {}: a figure on another target's scale would not compare."""
    from predictors.measure import timing_of
    from predictors.registry import load_for, reference_times

    try:
        levels = reference_times(device, space)
        fp = (load_for(device, space).parts[space.name].meta.get("fingerprint") or {}) if levels else {}
    except NasError:  # no such device: nothing to calibrate against
        return {}
    return levels if levels and timing_of(fp) == BUNDLE_TIMING else {}


def measure_bundle_latency(
    space: SearchSpace, arch: ArchConfig, *, repeats: int = 30, devices: Sequence[str] = ()
) -> dict:
    """Batch-1 latency of the standalone forward on this machine (JAX on the host), pinned.

    When a device in ``devices`` has a predictor fitted with reference timings
    (:mod:`predictors.drift`), the arch is timed interleaved beside those references,
    and the figure is also put on that predictor's speed scale (``on_scale``): a
    shared machine runs 10-30 % faster or slower from one minute to the next.
    """
    from predictors import measure
    from predictors.drift import measure_on_scale
    from predictors.interleaved import measure_group

    refs_of = {d: r for d in devices if (r := _references(d, space))}
    if refs_of:
        device, levels = next(iter(refs_of.items()))
        (m,), _, f = measure_on_scale(measure_group, space, [arch], levels, rounds=9, repeats=20)
        scale = {"on_scale": {device: m["median_ms"] / f}, "speed_factor": {device: f}}
    else:
        m, scale = measure(space, arch, backend="jax", batch_size=1, repeats=repeats), {}
    keep = ("median_ms", "iqr_ms", "cv", "repeats")
    return (
        {k: m[k] for k in keep}
        | {
            "backend": "jax-" + m["fingerprint"].get("platform", "cpu"),
            "cpu": m["fingerprint"].get("cpu_model", ""),
        }
        | scale
    )
