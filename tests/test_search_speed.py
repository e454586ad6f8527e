"""The search driver's fast paths give the answers of the slow ones: a choice's position by
dict lookup, and the free objectives computed once per architecture."""

from __future__ import annotations

import numpy as np

from nas.strategies.base import Free
from nas.strategies.domain import Domain
from search_spaces import complexity, load_space
from search_spaces.structure import Dimension, _same_choice


def _scan(d: Dimension, value) -> int:
    return next((i for i, c in enumerate(d.choices) if _same_choice(value, c)), -1)


def test_index_agrees_with_the_scan_on_values_of_every_kind():
    dims = [
        Dimension("a", (1, 2.0, 3)),
        Dimension("b", (True, False)),
        Dimension("c", ("x", "1", "True")),
        Dimension("d", (0.5, float("nan"), 1)),
    ]
    values = [1, 1.0, 2, 2.0, 3, True, False, 0, "1", "x", "True", None, float("nan"), 0.5, np.int64(3),
              np.float32(0.5), np.bool_(True), [1], (1,)]  # fmt: skip
    for d in dims:
        for v in values:
            assert d.index(v) == _scan(d, v), (d.name, v)
    assert Dimension("a", (1, 2.0, 3)).index(2) == 1 and Dimension("b", (True, False)).index(1) == -1


def test_free_values_are_computed_once_per_arch_and_unchanged():
    space = load_space("vit-mnist")
    calls: list[int] = []

    def fn(archs):
        calls.append(len(archs))
        c = complexity(space, archs)
        return np.stack([c["params"], -c["flops"]], 1).astype(float)

    dom = Domain(space, free=Free(fn, (True, True)))
    archs = space.sample_many(0, 40)
    first = dom.free_values(archs[:30])
    again = dom.free_values(archs[10:] + archs[:5])  # 10 new, 25 known
    assert calls == [30, 10]
    np.testing.assert_array_equal(first, fn(archs[:30]))
    np.testing.assert_array_equal(again, fn(archs[10:] + archs[:5]))
