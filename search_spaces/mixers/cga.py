"""Cascaded group attention (CGA; EfficientViT, Liu et al., "EfficientViT: Memory Efficient
Vision Transformer with Cascaded Group Attention", CVPR 2023).

Head ``i`` of ``H`` sees only its own split of the ``E`` channels (``c = E / H``), plus the
previous head's output (the cascade): ``x_i' = x_i + o_{i-1}``; its queries and keys have
width ``hd`` and its values width ``c``; the heads' outputs are concatenated and projected,
``proj(relu(concat))``.  Params per layer: ``H (2 c hd + 2 hd + c^2 + c) + E^2 + E``.  MACs:
projections ``B T (H (2 c hd + c^2) + E^2)``, attention ``B T T H (hd + c)``.  Decoding caches
``B T H (hd + c)`` keys and values.  ``E`` must be a multiple of every head count.
"""

from __future__ import annotations

from search_spaces.mixers.api import MixerSpec


def _check(embeds: list, heads: list) -> str:
    bad = [(e, h) for e in embeds for h in heads if e % h]
    return (
        f"embed_dim {bad[0][0]} is not a multiple of num_heads {bad[0][1]} (each head takes E / H channels)"
        if bad
        else ""
    )


def _c(d):
    return d.E / (d.H + (d.H == 0))


SPEC = MixerSpec(
    name="cga",
    paper="Liu et al., CVPR 2023 (EfficientViT)",
    params=lambda d: d.H * (2 * _c(d) * d.hd + 2 * d.hd + _c(d) * _c(d) + _c(d)) + d.E * d.E + d.E,
    proj_macs=lambda d: d.B * d.T * (d.H * (2 * _c(d) * d.hd + _c(d) * _c(d)) + d.E * d.E),
    mix_macs=lambda d: d.B * d.T * d.T * d.H * (d.hd + _c(d)),
    io=lambda d: d.H * 2 * d.hd + d.E,
    core=lambda d: d.B * d.T * d.T,
    state=lambda d: d.B * d.T * d.H * (d.hd + _c(d)),
    saved=lambda d: d.B * d.T * (2 * d.H * d.hd + 3 * d.E) + 2 * d.B * d.H * d.T * d.T,
    check_widths=_check,
)
