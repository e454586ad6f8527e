"""Per-layer widths of an architecture, shared by every block family.

A module of its own so that the block families (:mod:`supernet.standalone`,
:mod:`supernet.llama`) and the supernet read them without importing each other.
"""

from __future__ import annotations

from search_spaces import ArchConfig


def mlp_widths(arch: ArchConfig) -> tuple[int, ...]:
    """Per-layer MLP widths: ``mlp_dim``, or ``mlp_ratio * embed_dim``."""
    if "mlp_dim" in arch:
        return tuple(int(m) for m in arch.mlp_dim)
    return tuple(int(float(r) * arch.embed_dim + 1e-9) for r in arch.per_layer("mlp_ratio"))
