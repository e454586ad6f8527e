"""EcoFormer's binary attention (Liu et al., "EcoFormer: Energy-Saving Attention with Linear
Complexity", NeurIPS 2022): queries and keys are hashed to ``b``-bit binary codes, and
attention is the kernel form ``phi(Q) (phi(K)^T V)`` on those codes, in linear time.  The
option is the bit count (``ecoformer16``, the default 16).

Here the hash of a head is ``sign(x W_h)`` with a learned ``hd x b`` projection per head
(trained through the sign with a straight-through estimator; the paper learns a kernelized
hash on anchor points), and the similarity of two codes is the number of bits they share,
``phi(c) = [(1 + c) / 2, (1 - c) / 2]`` (``2b`` binary features).  Params: the attention
projections plus ``A b``; MACs: ``2 B T A b`` for hashing and ``4 B T A b`` for the kernel
attention; decoding keeps ``B H 2b (hd + 1)`` running sums.
"""

from __future__ import annotations

from search_spaces.mixers.api import MixerSpec
from search_spaces.mixers.sdp import proj_macs, proj_params, qkv_floats


def _check(b: int) -> str:
    return "" if 1 <= b <= 64 else "the bit count must be 1 to 64"


SPEC = MixerSpec(
    name="ecoformer",
    paper="Liu et al., NeurIPS 2022 (EcoFormer)",
    params=lambda d: proj_params(d) + d.H * d.hd * d.opt,
    proj_macs=proj_macs,
    mix_macs=lambda d: 2 * d.B * d.T * d.H * d.hd * d.opt + 4 * d.B * d.T * d.H * d.hd * d.opt,
    io=lambda d: qkv_floats(d) + 4 * d.H * d.opt,
    core=lambda d: 2 * d.B * d.T * d.H * d.opt * d.hd,
    state=lambda d: d.B * d.H * 2 * d.opt * (d.hd + 1),
    saved=lambda d: d.B * d.T * (4 * d.H * d.hd + 4 * d.H * d.opt) + 2 * d.B * d.T * d.H * d.opt * d.hd,
    option="bits",
    default_option=16,
    check_option=_check,
)
