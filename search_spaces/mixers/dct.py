"""A parameter-free 2-D DCT-II over tokens and channels (orthonormal), the LT-DCT operation of
FlexiBERT (Tuli et al., JAIR 2023) and NAS-Bench-BERT (Serianni & Kalita, ACL 2023); the
real-valued sibling of FNet's Fourier mixing (Lee-Thorp et al., NAACL 2022; DCT-II: Ahmed et
al., IEEE Trans. Computers 1974).

``D_T X D_E^T`` with the DCT-II matrices: ``B (T^2 E + T E^2)`` MACs; no causal form.
"""

from __future__ import annotations

from search_spaces.mixers.api import transform_spec

SPEC = transform_spec(
    name="dct", paper="Tuli et al., JAIR 2023 (FlexiBERT LT-DCT); Ahmed et al., 1974", passes=1
)
