"""The ``proxy`` evaluator kind: zero-cost proxies (:mod:`supernet.proxies`) scored at
initialization, ``{kind: proxy, proxies: [...], batches: N}``; its metrics are objectives,
constraints or surrogate features like any evaluator's, and it runs on Ray workers like the
supernet evaluator (the weights and the probe's data are made there)."""

from __future__ import annotations

from typing import Any, Mapping

from nas.user_evaluator import Fn
from search_spaces import SearchSpace
from search_spaces.errors import NasError


def build_proxy(spec: Mapping[str, Any], space: SearchSpace, payload: None) -> Fn:
    """Scores a batch of architectures with the spec's proxies (one compiled program per width)."""
    from supernet import proxies

    score = proxies.scorer(
        space,
        spec["proxies"],
        seed=int(spec.get("seed", 0)),
        batches=int(spec.get("batches", 1)),
        batch_size=int(spec.get("batch_size", 16)),
        seq_len=spec.get("seq_len"),
    )

    def fn(archs):
        rows = score(list(archs))
        proxies.check_finite(rows, list(archs))
        return rows

    return fn


def check_proxy(spec: Mapping[str, Any], space: SearchSpace) -> None:
    """The names exist and the space builds (the weights and data are made on the workers)."""
    from supernet import model, proxies

    proxies.check_names(spec["proxies"], where="proxies")
    model.geometry(space)
    if proxies.needs_data(spec["proxies"]):
        from supernet import tasks

        try:
            tasks.get(space)
        except NasError as e:
            raise NasError(f"field 'proxies': space '{space.name}' has no data to probe with ({e})") from None
