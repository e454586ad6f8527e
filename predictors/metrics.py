"""Scores of a latency predictor on held-out architectures, and a scatter plot.

RMSE and MAPE, the share of predictions within +-5 % and +-10 % of the measured
value (the figure nn-Meter and HAT report) and Kendall's tau (does the
predictor rank architectures as the device does? that is what a search needs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search_spaces import NasError


def evaluate(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``rmse_ms``, ``mape_pct``, ``within5_pct``, ``within10_pct``, ``kendall_tau``, ``n``."""
    from scipy.stats import kendalltau

    y, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise NasError(f"field 'y': need two equal non-empty 1-D arrays, got {y.shape} and {p.shape}")
    rel = np.abs(p - y) / y
    tau = kendalltau(y, p).statistic if len(y) > 1 else float("nan")
    return {
        "n": int(len(y)),
        "rmse_ms": float(np.sqrt(np.mean((p - y) ** 2))),
        "mape_pct": float(100 * rel.mean()),
        "within5_pct": float(100 * (rel <= 0.05).mean()),
        "within10_pct": float(100 * (rel <= 0.10).mean()),
        "kendall_tau": float(tau),
    }


def scatter_plot(y_true: np.ndarray, y_pred: np.ndarray, path: str | Path, *, title: str = "") -> Path:
    """Predicted-vs-measured PNG with the +-10 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, p = np.asarray(y_true), np.asarray(y_pred)
    lo, hi = float(min(y.min(), p.min())) * 0.9, float(max(y.max(), p.max())) * 1.1
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    xs = np.linspace(lo, hi, 50)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.88", label="±10 %")
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.scatter(y, p, s=8, alpha=0.7)
    ax.set(xlabel="measured latency (ms)", ylabel="predicted latency (ms)", xlim=(lo, hi), ylim=(lo, hi))
    m = evaluate(y, p)
    ax.set_title(f"{title}\n{m['within10_pct']:.1f}% within ±10 %, tau {m['kendall_tau']:.3f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
