"""HAT's latency-predictor recipe, as its authors train it (JAX + optax).

Wang et al., "HAT: Hardware-Aware Transformers for Efficient Natural Language
Processing", ACL 2020, section 3.3 and their ``latency_predictor.py``: an MLP
with a first fully connected layer and three hidden layers, all 400 wide with
ReLU (the "4x400" of the HAT data's README baseline), on features divided by
their largest value and latency divided by its largest value, trained with
plain squared error by Adam (learning rate 1e-5) for 5,000 steps of 128 rows
drawn without replacement.  Here the normalizers are the training rows' column
maxima (HAT fixes them by hand to the space's maxima) and the steps run in one
jitted ``lax.scan``; prediction is plain numpy.  It is the baseline the
model choice (:mod:`predictors.fitting`) must not lose to, and a candidate of
that choice when there are rows enough to train it.
"""

from __future__ import annotations

import numpy as np

from predictors.models.inputs import check_xy

HIDDEN = (400, 400, 400, 400)


def fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    steps: int = 5000,
    batch: int = 128,
    lr: float = 1e-5,
    hidden: tuple[int, ...] = HIDDEN,
) -> dict[str, np.ndarray]:
    import jax
    import jax.numpy as jnp
    import optax

    X, y = check_xy(X, y)
    x_norm = np.abs(X).max(0)
    x_norm[x_norm == 0] = 1.0
    y_norm = float(np.abs(y).max())
    Xs = jnp.asarray(X / x_norm, jnp.float32)
    ys = jnp.asarray(y / y_norm, jnp.float32)
    sizes = (X.shape[1], *hidden, 1)
    key = jax.random.PRNGKey(seed)
    params = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):  # torch.nn.Linear's init
        kw, kb = jax.random.split(jax.random.fold_in(key, i))
        bound = 1.0 / np.sqrt(a)
        params.append((jax.random.uniform(kw, (a, b), minval=-bound, maxval=bound),
                       jax.random.uniform(kb, (b,), minval=-bound, maxval=bound)))  # fmt: skip
    opt = optax.adam(lr)
    bsz = min(batch, len(X))

    def forward(p, x):
        for W, b in p[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = p[-1]
        return (x @ W + b)[:, 0]

    @jax.jit
    def train(p, key):
        def step(carry, k):
            p, s = carry
            idx = jax.random.choice(k, len(ys), (bsz,), replace=False)
            g = jax.grad(lambda p: jnp.mean((forward(p, Xs[idx]) - ys[idx]) ** 2))(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), jax.random.split(key, steps))
        return p

    params = train(params, jax.random.fold_in(key, 10_000))
    out = {"x_norm": x_norm, "y_norm": np.asarray(y_norm)}
    for i, (W, b) in enumerate(params):
        out[f"W{i}"], out[f"b{i}"] = np.asarray(W, np.float64), np.asarray(b, np.float64)
    pred = _predict(out, X)
    out["log_std"] = np.asarray(np.std(np.log(np.maximum(pred, 1e-9)) - np.log(y)))
    return out


def _predict(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    x = np.asarray(X, dtype=np.float64) / params["x_norm"]
    n = sum(1 for k in params if k.startswith("W"))
    for i in range(n):
        x = x @ params[f"W{i}"] + params[f"b{i}"]
        if i < n - 1:
            x = np.maximum(x, 0.0)
    return x[:, 0] * float(params["y_norm"])


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.maximum(_predict(params, X), 1e-9)
    return mean, mean * float(params["log_std"])
