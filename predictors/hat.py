"""The HAT latency files (``shared/data/hat/``): columns, README split and baselines.

HAT (Wang et al., "HAT: Hardware-Aware Transformers for Efficient Natural
Language Processing", ACL 2020) measured 2,000 WMT'14 En-De SubTransformers on
a Raspberry Pi ARM CPU, an Intel Xeon CPU and an Nvidia TITAN Xp GPU.  The
data's README fixes the features, the target (encoder + decoder latency), the
split (seed-0 permutation, 1,800 train / 200 test) and two baselines to beat
(% of test predictions within +-10 %: linear regression, MLP 4x400).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predictors.tabular import load_csv

FEATURES = (
    "encoder_embed_dim",
    "encoder_layer_num",
    "encoder_ffn_embed_dim_avg",
    "encoder_self_attention_heads_avg",
    "decoder_embed_dim",
    "decoder_layer_num",
    "decoder_ffn_embed_dim_avg",
    "decoder_self_attention_heads_avg",
    "decoder_ende_attention_heads_avg",
    "decoder_arbitrary_ende_attn_avg",
)
TARGETS = ("latency_mean_encoder", "latency_mean_decoder")
# within +-10 % on the README split: (linear regression, MLP 4x400)
BASELINES = {
    "wmt14ende_cpu_raspberrypi_all.csv": (87.0, 92.5),
    "wmt14ende_cpu_xeon_all.csv": (88.5, 86.0),
    "wmt14ende_gpu_titanxp_all.csv": (86.0, 67.5),
}


def default_dir() -> Path:
    """``shared/data/hat`` beside the repository checkout."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "hat"


def load(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of one HAT file: the README's features and encoder + decoder latency (ms)."""
    return load_csv(path, FEATURES, TARGETS)
