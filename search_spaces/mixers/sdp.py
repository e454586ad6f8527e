"""Scaled dot-product self-attention (Vaswani et al., "Attention Is All You Need", NeurIPS 2017).

Per layer ``H`` heads of width ``hd`` (``A = H hd``): a fused q/k/v projection ``3EA + 3A``,
scores ``softmax(q k^T / sqrt(hd)) v`` (``2 B T T A`` MACs: ``QK^T`` and ``AV``) and an
output projection ``AE + E``.  Decoding keeps keys and values: ``2 B T K hd`` floats.
"""

from __future__ import annotations

from search_spaces.mixers.api import Dims, MixerSpec


def proj_params(d: Dims):
    """The q/k/v and output projections of an attention layer (shared by attention mixers)."""
    A = d.H * d.hd
    return 3 * d.E * A + 3 * A + A * d.E + d.E


def proj_macs(d: Dims):
    A = d.H * d.hd
    return d.B * d.T * (3 * d.E * A + A * d.E)


def qkv_floats(d: Dims):
    return d.H * d.hd + 2 * d.K * d.hd


SPEC = MixerSpec(
    name="sdp",
    paper="Vaswani et al., NeurIPS 2017",
    aliases=("softmax",),
    params=proj_params,
    proj_macs=proj_macs,
    mix_macs=lambda d: 2 * d.B * d.T * d.T * d.H * d.hd,
    io=qkv_floats,
    core=lambda d: d.B * d.H * d.T * d.T,
    state=lambda d: 2 * d.B * d.T * d.K * d.hd,
    saved=lambda d: d.B * d.T * 4 * d.H * d.hd + 2 * d.B * d.H * d.T * d.T,
    columns=("macs_scores_softmax", "bytes_scores_softmax", "layers_softmax", "heads_softmax"),
)
