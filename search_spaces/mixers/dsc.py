"""Span-based dynamic convolution (DSC; ConvBERT, Jiang et al., "ConvBERT: Improving BERT with
Span-based Dynamic Convolution", NeurIPS 2020), with its kernel size as the option: ``dsc5``,
``dsc9`` (FlexiBERT and NAS-Bench-BERT search 5 and 9).

Per head: the span-aware key ``ks`` is the key projection convolved depthwise over ``k``
tokens; a per-position kernel ``softmax((q * ks) W_g + b_g)`` of ``k`` taps (``W_g``: ``hd x
k`` per head) is applied to the values over the same window.  Causal with left padding (the
window ends at the position).  Params: the attention projections plus ``k A + A`` (depthwise)
and ``A k + H k`` (kernel generator).  MACs: ``3 B T A k`` for the depthwise conv, the kernel
generator and the convolution.  Decoding keeps the last ``k - 1`` keys and values.
"""

from __future__ import annotations

from search_spaces.mixers.api import MixerSpec
from search_spaces.mixers.sdp import proj_macs, proj_params, qkv_floats


def _check(k: int) -> str:
    if k < 1 or k % 2 == 0 or k > 63:
        return "the kernel must be an odd number of taps from 1 to 63 (a window centred on the token)"
    return ""


SPEC = MixerSpec(
    name="dsc",
    paper="Jiang et al., NeurIPS 2020 (ConvBERT)",
    params=lambda d: proj_params(d) + 2 * d.opt * d.H * d.hd + d.H * d.hd + d.H * d.opt,
    proj_macs=proj_macs,
    mix_macs=lambda d: 3 * d.B * d.T * d.H * d.hd * d.opt,
    io=lambda d: qkv_floats(d) + d.H * d.hd,
    core=lambda d: d.B * d.T * d.H * d.opt,
    state=lambda d: 2 * d.B * (d.opt - 1) * d.H * d.hd,
    saved=lambda d: d.B * d.T * (5 * d.H * d.hd + 2 * d.H * d.opt),
    option="kernel",
    default_option=9,
    check_option=_check,
)
