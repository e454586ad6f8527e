"""Multi-layer perceptron on log features predicting log latency (JAX + optax).

The log target makes the squared error a relative error, as in BRP-NAS
(Dudziak et al., NeurIPS 2020) and HAT (Wang et al., ACL 2020), who fit
latency MLPs on architecture encodings.  Training is full-batch Adam with a
cosine schedule, jitted once; prediction is plain numpy (no JAX at query time).
"""

from __future__ import annotations

import numpy as np

from predictors.models.inputs import check_xy, log_inputs


def _init(key, sizes):
    import jax

    params = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        k = jax.random.fold_in(key, i)
        params.append((jax.random.normal(k, (a, b)) * np.sqrt(2.0 / a), np.zeros(b)))
    return params


def _forward(params, x):
    import jax

    for W, b in params[:-1]:
        x = jax.nn.silu(x @ W + b)
    W, b = params[-1]
    return (x @ W + b)[:, 0]


def fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    hidden: tuple[int, ...] = (128, 128),
    steps: int = 3000,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    bootstrap: bool = False,
) -> dict[str, np.ndarray]:
    import jax
    import jax.numpy as jnp
    import optax

    X, y = check_xy(X, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(X), size=len(X)) if bootstrap else np.arange(len(X))
    Z = log_inputs(X)
    mu, sd = Z.mean(0), Z.std(0)
    sd[sd == 0] = 1.0
    t = np.log(y)
    t_mu, t_sd = t.mean(), max(t.std(), 1e-6)
    Zs = jnp.asarray(((Z - mu) / sd)[idx], jnp.float32)
    ts = jnp.asarray(((t - t_mu) / t_sd)[idx], jnp.float32)
    params = _init(jax.random.PRNGKey(seed), (X.shape[1], *hidden, 1))
    opt = optax.adamw(optax.cosine_decay_schedule(lr, steps), weight_decay=weight_decay)

    def loss(p):
        return jnp.mean((_forward(p, Zs) - ts) ** 2)

    @jax.jit
    def train(p):
        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)
        return p

    params = train(params)
    out = {"mu": mu, "sd": sd, "t_mu": np.asarray(t_mu), "t_sd": np.asarray(t_sd)}
    for i, (W, b) in enumerate(params):
        out[f"W{i}"], out[f"b{i}"] = np.asarray(W, np.float64), np.asarray(b, np.float64)
    pred = _log_predict(out, X)
    out["log_std"] = np.asarray(np.std(pred - t))
    return out


def _log_predict(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    x = (log_inputs(np.asarray(X, dtype=np.float64)) - params["mu"]) / params["sd"]
    n = sum(1 for k in params if k.startswith("W"))
    for i in range(n):
        x = x @ params[f"W{i}"] + params[f"b{i}"]
        if i < n - 1:
            x = x / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))  # silu
    return x[:, 0] * params["t_sd"] + params["t_mu"]


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.exp(_log_predict(params, X))
    return mean, mean * float(params["log_std"])
