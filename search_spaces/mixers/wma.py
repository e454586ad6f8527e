"""Weighted multiplicative attention (WMA): per head ``softmax(q W k^T / sqrt(hd)) v`` with a
learned ``hd x hd`` matrix ``W`` per head (FlexiBERT, Tuli et al., "FlexiBERT: Are Current
Transformer Architectures too Homogeneous and Rigid?", JAIR 2023; Luong et al., EMNLP 2015).

The projections of softmax attention plus ``H hd^2`` weights; ``q W`` costs ``B T A hd`` MACs
on top of softmax attention's ``2 B T T A``; decoding caches keys and values as softmax does.
"""

from __future__ import annotations

from search_spaces.mixers.api import MixerSpec
from search_spaces.mixers.sdp import proj_macs, proj_params, qkv_floats

SPEC = MixerSpec(
    name="wma",
    paper="Tuli et al., JAIR 2023 (FlexiBERT)",
    params=lambda d: proj_params(d) + d.H * d.hd * d.hd,
    proj_macs=proj_macs,
    mix_macs=lambda d: 2 * d.B * d.T * d.T * d.H * d.hd + d.B * d.T * d.H * d.hd * d.hd,
    io=lambda d: qkv_floats(d) + d.H * d.hd,
    core=lambda d: d.B * d.H * d.T * d.T,
    state=lambda d: 2 * d.B * d.T * d.K * d.hd,
    saved=lambda d: d.B * d.T * 5 * d.H * d.hd + 2 * d.B * d.H * d.T * d.T,
)
