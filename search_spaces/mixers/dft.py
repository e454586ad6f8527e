"""A parameter-free 2-D discrete Fourier transform over tokens and channels, keeping the real
part (FNet, Lee-Thorp et al., "FNet: Mixing Tokens with Fourier Transforms", NAACL 2022; the
LT-DFT operation of FlexiBERT and NAS-Bench-BERT).

Computed as ``C_T X C_E - S_T X S_E`` with the cosine and sine DFT matrices (orthonormal
scaling ``1 / sqrt(T E)``), the dense-matrix form FNet uses for short sequences: ``2 B (T^2 E +
T E^2)`` MACs, plain matrix products that every exporter handles.  It mixes every position
with every other, so it has no causal form.
"""

from __future__ import annotations

from search_spaces.mixers.api import transform_spec

SPEC = transform_spec(name="dft", paper="Lee-Thorp et al., NAACL 2022 (FNet)", passes=2)
