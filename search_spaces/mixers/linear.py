"""Kernelized linear attention with ``phi = elu + 1`` (Katharopoulos et al., "Transformers are
RNNs", ICML 2020).

The projections of :mod:`search_spaces.mixers.sdp`; the mixing ``phi(K)^T V`` then ``phi(Q)
(.)`` costs ``2 B T A hd`` MACs and holds ``B T A hd`` running key-value sums (causal form);
decoding keeps ``B H hd (hd + 1)`` floats whatever the context.
"""

from __future__ import annotations

from search_spaces.mixers.api import MixerSpec
from search_spaces.mixers.sdp import proj_macs, proj_params, qkv_floats

SPEC = MixerSpec(
    name="linear",
    paper="Katharopoulos et al., ICML 2020",
    params=proj_params,
    proj_macs=proj_macs,
    mix_macs=lambda d: 2 * d.B * d.T * d.H * d.hd * d.hd,
    io=qkv_floats,
    core=lambda d: d.B * d.T * d.H * d.hd * d.hd,
    state=lambda d: d.B * d.H * d.hd * (d.hd + 1),
    saved=lambda d: d.B * d.T * 4 * d.H * d.hd + d.B * d.T * d.H * d.hd * d.hd,
    columns=("macs_scores_linear", "bytes_state_linear", "layers_linear", "heads_linear"),
)
