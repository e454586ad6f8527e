"""Latency of an architecture's standalone forward on this machine.

Protocol (as nn-Meter, Zhang et al., MobiSys 2021, and HAT, Wang et al., ACL
2020, measure kernels and models): build the standalone model, compile it once,
warm up, then time many single forward calls (blocking until the result is
ready) with every thread of the process pinned to one CPU core, and keep the
median with its spread (interquartile range, coefficient of variation) and a
fingerprint of the device the figure belongs to.

Targets beyond this CPU: with JAX on a GPU (``jax.default_backend() == "gpu"``)
the same protocol times the device (every call ends in ``block_until_ready``,
so asynchronous dispatch is not mistaken for speed; warm-up calls run first)
and the fingerprint names the GPU model (``jax.Device.device_kind``) and the
driver (``/proc/driver/nvidia/version`` or ``nvidia-smi``).  ONNX Runtime runs
with a chosen execution provider (``provider="CUDAExecutionProvider"``,
``"TensorrtExecutionProvider"``, ...; ONNX Runtime's documented names), which
the fingerprint records.  Batch size and sequence length are part of a target,
as in HAT and nn-Meter.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from typing import Any, Callable, Iterator

import numpy as np

from search_spaces import ArchConfig, NasError, SearchSpace, load_space

BACKENDS = ("jax", "onnx")


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_driver() -> str | None:
    """The NVIDIA driver version of this node (None where there is none)."""
    try:
        with open("/proc/driver/nvidia/version") as f:
            first = f.readline()
        for tok in first.split():
            if tok[:1].isdigit() and "." in tok:
                return tok
    except OSError:
        pass
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            return out.splitlines()[0] if out else None
        except (OSError, subprocess.SubprocessError):
            return None
    return None


def accelerator(backend: str, provider: str | None) -> dict[str, Any]:
    """The accelerator a backend times on: GPU model and driver, or {} on a CPU."""
    import jax

    gpu = backend == "jax" and jax.default_backend() == "gpu"
    gpu = gpu or (backend == "onnx" and provider not in (None, "CPUExecutionProvider"))
    if not gpu:
        return {}
    kinds = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    return {"accelerator": kinds[0] if kinds else provider, "gpu_driver": gpu_driver()}


def fingerprint(
    *, backend: str = "jax", batch_size: int = 1, seq_len: int | None = None, provider: str | None = None
) -> dict[str, Any]:
    """What a latency figure depends on besides the architecture."""
    import jax
    import jaxlib

    fp = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "jax_version": jax.__version__,
        "xla_version": getattr(jaxlib, "__version__", "unknown"),
        "platform": jax.default_backend(),
        "backend": backend,
        "batch_size": int(batch_size),
        "seq_len": seq_len,
    }
    if backend == "onnx":
        import onnxruntime

        fp["onnxruntime_version"] = onnxruntime.__version__
        fp["onnx_provider"] = provider or "CPUExecutionProvider"
    fp.update(accelerator(backend, provider))
    return fp


def timing_of(fp: dict[str, Any]) -> dict[str, Any]:
    """The timing options that reproduce a campaign with fingerprint ``fp`` (backend, batch
    size, sequence length, ONNX provider), so a later timing beside its references is
    comparable (``nas latency calibrate``, a bundle's measurement on a device's scale)."""
    out: dict[str, Any] = {
        "backend": fp.get("backend", "jax"),
        "batch_size": int(fp.get("batch_size") or 1),
        "seq_len": fp.get("seq_len"),
    }
    if out["backend"] == "onnx" and fp.get("onnx_provider"):
        out["provider"] = fp["onnx_provider"]
    return out


def _thread_ids() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


@contextlib.contextmanager
def pinned(core: int | None) -> Iterator[None]:
    """Pins every thread of this process to ``core`` (Linux), restoring the old mask after.

    ``os.sched_setaffinity(0, ...)`` only moves the calling thread; XLA's and
    onnxruntime's worker threads already exist, so each thread id is pinned.
    """
    if core is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    old = os.sched_getaffinity(0)
    if core not in old:
        raise NasError(f"field 'core': {core} is not one of this process's cores {sorted(old)}")
    tids = _thread_ids()
    for t in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(t, {core})
    try:
        yield
    finally:
        for t in _thread_ids():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(t, old)


def summarize(times_ms: np.ndarray) -> dict[str, float]:
    """Median, mean, IQR, coefficient of variation, min and max of repeat timings (ms)."""
    t = np.asarray(times_ms, dtype=np.float64)
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return {
        "median_ms": float(med),
        "mean_ms": float(t.mean()),
        "iqr_ms": float(q3 - q1),
        "cv": float(t.std() / t.mean()) if t.mean() > 0 else 0.0,
        "min_ms": float(t.min()),
        "max_ms": float(t.max()),
    }


def _jax_runner(space: SearchSpace, arch: ArchConfig, batch_size: int, seq_len: int | None):
    import jax

    from supernet import any_model, standalone

    model = any_model.build(space, arch)
    x = standalone.example_input(space, batch_size, seq_len)
    variables = standalone.random_variables(model, x)
    fwd = jax.jit(model.apply).lower(variables, x).compile()

    def call() -> None:
        fwd(variables, x).block_until_ready()

    call.peak_mb = compiled_peak_mb(fwd)  # type: ignore[attr-defined]
    return call


def compiled_peak_mb(compiled: Any) -> float | None:
    """Peak memory (MiB) of a compiled XLA program by XLA's own memory analysis: its
    arguments (weights and input), outputs and temporaries as the buffer assignment lays
    them out (``peak_memory_in_bytes``; the sum of the parts where that is not reported)."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # a backend without memory analysis
        return None
    if m is None:
        return None
    peak = int(getattr(m, "peak_memory_in_bytes", 0) or 0)
    if peak <= 0:
        peak = (
            m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
        )
    return float(peak) / 2**20


def time_callable(
    call, *, repeats: int, warmup: int, core: int | None, block_ms: float = 2.0
) -> tuple[np.ndarray, int]:
    """Per-call milliseconds of ``repeats`` timed blocks, and the calls per block.

    Each block runs ``k`` back-to-back calls, ``k`` chosen from the warm-up so a
    block lasts about ``block_ms``: sub-millisecond calls timed one by one are
    dominated by timer and scheduler noise on a shared CPU (timeit's reasoning).
    """
    with pinned(core):
        warm = []
        for _ in range(max(warmup, 3)):
            t0 = time.perf_counter()
            call()
            warm.append(time.perf_counter() - t0)
        k = max(1, int(np.ceil(block_ms * 1e-3 / max(float(np.median(warm)), 1e-7))))
        out = np.empty(repeats)
        for i in range(repeats):
            t0 = time.perf_counter()
            for _ in range(k):
                call()
            out[i] = (time.perf_counter() - t0) * 1e3 / k
    return out, k


def default_core() -> int | None:
    """The last core this process may run on (None where affinity is unsupported)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return max(os.sched_getaffinity(0))


def measure(
    space: SearchSpace | str,
    arch: ArchConfig,
    *,
    backend: str = "jax",
    batch_size: int = 1,
    seq_len: int | None = None,
    repeats: int = 100,
    warmup: int = 10,
    core: int | None | str = "auto",
    block_ms: float = 2.0,
    onnx_model: Any = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Latency of one forward pass of ``arch``'s standalone model.

    Args:
      space: the space (or its name / YAML path) ``arch`` belongs to.
      backend: ``"jax"`` (XLA on this host's default JAX platform) or ``"onnx"``
        (jax2onnx export, then onnxruntime on one CPU thread).
      repeats, warmup: timed blocks and untimed calls after compilation.
      block_ms: a timed block repeats the call for about this long (see :func:`time_callable`).
      core: CPU core to pin to; ``"auto"`` is the last allowed core, None no pinning.
      onnx_model: an already exported ONNX ModelProto / path (export reuses this).
      provider: ONNX Runtime execution provider (default ``CPUExecutionProvider``).

    Returns a dict with ``median_ms``, ``mean_ms``, ``iqr_ms``, ``cv``, ``min_ms``,
    ``max_ms`` (per call, over blocks), ``repeats``, ``calls_per_block``, ``compile_s`` and
    ``fingerprint``.
    """
    space = load_space(space)
    if backend not in BACKENDS:
        raise NasError(f"field 'backend': {backend!r} is not one of {list(BACKENDS)}")
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise NasError(
            f"field 'repeats/warmup/batch_size': need repeats>=1, warmup>=0, batch_size>=1, "
            f"got {repeats}/{warmup}/{batch_size}"
        )
    space.validate(arch)
    if core == "auto":
        core = default_core()
    call, compile_s = prepare(
        space,
        arch,
        backend=backend,
        batch_size=batch_size,
        seq_len=seq_len,
        onnx_model=onnx_model,
        provider=provider,
    )
    times, k = time_callable(call, repeats=repeats, warmup=warmup, core=core, block_ms=block_ms)
    out = summarize(times)
    out.update(
        repeats=int(len(times)),
        calls_per_block=int(k),
        compile_s=float(compile_s),
        core=core,
        fingerprint=fingerprint(backend=backend, batch_size=batch_size, seq_len=seq_len, provider=provider),
    )
    return out


def prepare(
    space: SearchSpace,
    arch: ArchConfig,
    *,
    backend: str = "jax",
    batch_size: int = 1,
    seq_len: int | None = None,
    onnx_model: Any = None,
    provider: str | None = None,
) -> tuple[Callable[[], None], float]:
    """A compiled zero-argument forward of ``arch`` and the seconds compiling it took."""
    t0 = time.perf_counter()
    if backend == "jax":
        call = _jax_runner(space, arch, batch_size, seq_len)
    else:
        from predictors.onnx_backend import onnx_runner

        call = onnx_runner(
            space, arch, batch_size=batch_size, seq_len=seq_len, model=onnx_model, provider=provider
        )
    call()  # first call outside the compile timer's noise
    return call, time.perf_counter() - t0
