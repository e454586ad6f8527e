"""Hardware latency: measurement, features, predictor models and the per-device registry.

import predictors
p = predictors.load("cpu-host", space="vit-mnist")
ms = p.predict(archs)                       # (n,) milliseconds
ms, std = p.predict_with_uncertainty(archs)
predictors.list_devices()
"""

from predictors.measure import measure
from predictors.registry import LatencyPredictor, list_devices, load, load_for

__all__ = ["LatencyPredictor", "list_devices", "load", "load_for", "measure"]
