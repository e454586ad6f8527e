"""ONNX Runtime backend: export the standalone forward with jax2onnx, run it with a provider.

Many deployments run models through ONNX Runtime rather than XLA; a predictor
fitted on these timings describes that runtime.  Parameters are closed over and
become initializers of the graph; the session uses one intra-op thread so that
pinning to one core measures single-core latency.  ``provider`` picks ONNX Runtime's
execution provider (``CPUExecutionProvider`` by default; ``CUDAExecutionProvider``,
``TensorrtExecutionProvider``, ``CoreMLExecutionProvider``, ... where the installed
onnxruntime build has them: ``onnxruntime.get_available_providers()``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from search_spaces import ArchConfig, NasError, SearchSpace


def export_onnx(space: SearchSpace, arch: ArchConfig, *, batch_size: int = 1, seq_len: int | None = None):
    """ONNX ModelProto of ``arch``'s standalone forward with fresh weights (seed 0)."""
    import jax
    from jax2onnx import to_onnx

    from supernet import any_model, standalone

    model = any_model.build(space, arch)
    x = standalone.example_input(space, batch_size, seq_len)
    variables = standalone.random_variables(model, x)

    def fwd(inp):
        return model.apply(variables, inp)

    try:
        return to_onnx(fwd, [jax.ShapeDtypeStruct(x.shape, x.dtype)], model_name="subnet")
    except Exception as e:  # a converter limitation is not a user mistake we can fix here
        raise NasError(f"backend 'onnx': jax2onnx could not convert {arch.to_json()}: {e}") from e


def onnx_runner(
    space: SearchSpace,
    arch: ArchConfig,
    *,
    batch_size: int = 1,
    seq_len: int | None = None,
    model: Any = None,
    provider: str | None = None,
) -> Callable[[], None]:
    """A zero-argument callable running one onnxruntime forward of ``arch``."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)

    from supernet import standalone

    proto = model if model is not None else export_onnx(space, arch, batch_size=batch_size, seq_len=seq_len)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    data = proto if isinstance(proto, (str, bytes)) else proto.SerializeToString()
    provider = provider or "CPUExecutionProvider"
    have = ort.get_available_providers()
    if provider not in have:
        raise NasError(
            f"field '--provider': {provider!r} is not available in this onnxruntime; it has {have}"
        )
    sess = ort.InferenceSession(data, sess_options=opts, providers=[provider])
    if sess.get_providers()[0] != provider:
        raise NasError(
            f"field '--provider': onnxruntime fell back to {sess.get_providers()} from {provider!r}"
        )
    x = np.asarray(standalone.example_input(space, batch_size, seq_len))
    name = sess.get_inputs()[0].name

    def call() -> None:
        sess.run(None, {name: x})

    return call
