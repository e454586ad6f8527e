"""Hardware latency: measurement, features, predictor models and the per-device registry."""
