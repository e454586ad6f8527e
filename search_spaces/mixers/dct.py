"""A parameter-free 2-D DCT-II over tokens and channels (orthonormal), the LT-DCT operation of
FlexiBERT (Tuli et al., JAIR 2023) and NAS-Bench-BERT (Serianni & Kalita, ACL 2023); the
real-valued sibling of FNet's Fourier mixing (Lee-Thorp et al., NAACL 2022; DCT-II: Ahmed et
al., IEEE Trans. Computers 1974).

``D_T X D_E^T`` with the DCT-II matrices: ``B (T^2 E + T E^2)`` MACs; no causal form.
"""

from __future__ import annotations

from search_spaces.mixers.api import MixerSpec


def _zero(d):
    return 0.0 * d.E


SPEC = MixerSpec(
    name="dct",
    paper="Tuli et al., JAIR 2023 (FlexiBERT LT-DCT); Ahmed et al., 1974",
    params=_zero,
    proj_macs=_zero,
    mix_macs=lambda d: d.B * (d.T * d.T * d.E + d.T * d.E * d.E),
    io=_zero,
    core=lambda d: d.B * d.T * d.E,
    state=_zero,
    saved=lambda d: d.B * d.T * d.E,
    causal=False,
    uses_heads=False,
)
