"""Predictor models on a plain feature matrix.

Every model is a pair of pure functions, ``fit(X, y, *, seed) -> params`` and
``predict(params, X) -> (mean, std)``, where ``params`` is a flat dict of numpy
arrays (saved as npz, never pickled) and ``y`` / ``mean`` / ``std`` are in the
target's unit (milliseconds).  ``X`` may come from :mod:`predictors.features`
or from any other tool's CSV.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from predictors.models.inputs import check_xy, log_inputs
from search_spaces import NasError


class Model(NamedTuple):
    fit: Callable[..., dict[str, np.ndarray]]
    predict: Callable[[dict[str, np.ndarray], np.ndarray], tuple[np.ndarray, np.ndarray]]


def get(name: str) -> Model:
    """The model called ``name`` (one of :data:`NAMES`)."""
    import functools

    from predictors.models import blend, ensemble, hat_mlp, linear, mlp, trees

    table = {
        "linear": Model(linear.fit, linear.predict),
        "poly2": Model(functools.partial(linear.fit, degree=2), linear.predict),
        "mlp": Model(mlp.fit, mlp.predict),
        "ensemble": Model(ensemble.fit, ensemble.predict),
        "trees": Model(trees.fit, trees.predict),
        "blend": Model(blend.fit, blend.predict),
        "hat_mlp": Model(hat_mlp.fit, hat_mlp.predict),
    }
    if name not in table:
        raise NasError(f"field 'model': {name!r} is not one of {sorted(table)}")
    return table[name]


NAMES = ("linear", "poly2", "mlp", "ensemble", "trees", "blend", "hat_mlp")
__all__ = ["Model", "NAMES", "check_xy", "get", "log_inputs"]
