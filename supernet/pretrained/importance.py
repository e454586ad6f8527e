"""Importance ordering: permute heads and MLP neurons so that leading slices keep the important ones.

A subnet uses the *leading* heads and MLP neurons of every layer.  A pretrained
checkpoint has no reason to put its important units first, so before training
the supernet we sort them, per layer, by a magnitude score (Once-for-All, Cai et
al., ICLR 2020, sorts channels by L1 norm; whittle sorts heads and neurons of
pretrained LLMs the same way).  A permutation of heads (q, k, v and the matching
rows of the output projection) or of MLP neurons (columns of ``fc1``, rows of
``fc2``) leaves the full layer's function unchanged, so the largest subnet
computes exactly what it computed before; smaller subnets inherit better units.

Scores (per layer):

* head ``h``: ``||W_v[:, h]||_F * ||W_out[h]||_F + ||W_q[:, h]||_F * ||W_k[:, h]||_F``, the
  magnitudes of its value-output and query-key circuits;
* neuron ``j``: ``||fc1[:, j]||_2 * ||fc2[j, :]||_2``, how much it can write to the stream.
"""

from __future__ import annotations

import numpy as np


def head_scores(layers: dict) -> np.ndarray:
    """(L, H) score of every head of every layer (supernet layout)."""
    qkv = np.asarray(layers["qkv"]["kernel"])  # (L, E, 3, H, hd)
    out = np.asarray(layers["out"]["kernel"])  # (L, H, hd, E)
    norm = lambda a, axes: np.sqrt((a**2).sum(axis=axes))  # noqa: E731
    q, k, v = (norm(qkv[:, :, i], (1, 3)) for i in range(3))  # (L, H) each
    return v * norm(out, (2, 3)) + q * k


def neuron_scores(layers: dict) -> np.ndarray:
    """(L, M) score of every MLP neuron of every layer."""
    fc1 = np.asarray(layers["fc1"]["kernel"])  # (L, E, M)
    fc2 = np.asarray(layers["fc2"]["kernel"])  # (L, M, E)
    return np.sqrt((fc1**2).sum(axis=1)) * np.sqrt((fc2**2).sum(axis=2))


def orders(layers: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer permutations (L, H) and (L, M), most important first (stable for ties)."""
    h = np.argsort(-head_scores(layers), axis=1, kind="stable")
    m = np.argsort(-neuron_scores(layers), axis=1, kind="stable")
    return h, m


def permute(params: dict, head_order: np.ndarray, neuron_order: np.ndarray) -> dict:
    """Supernet params with every layer's heads and neurons taken in the given orders."""
    lay = params["layers"]
    L = head_order.shape[0]

    def take(a, order, axis):
        a = np.asarray(a)
        return np.stack([np.take(a[i], order[i], axis=axis - 1) for i in range(L)])

    new = dict(lay)
    new["qkv"] = {
        "kernel": take(lay["qkv"]["kernel"], head_order, 3),  # (L, E, 3, H, hd)
        "bias": take(lay["qkv"]["bias"], head_order, 2),  # (L, 3, H, hd)
    }
    new["out"] = {"kernel": take(lay["out"]["kernel"], head_order, 1), "bias": lay["out"]["bias"]}
    new["fc1"] = {
        "kernel": take(lay["fc1"]["kernel"], neuron_order, 2),  # (L, E, M)
        "bias": take(lay["fc1"]["bias"], neuron_order, 1),  # (L, M)
    }
    new["fc2"] = {"kernel": take(lay["fc2"]["kernel"], neuron_order, 1), "bias": lay["fc2"]["bias"]}
    return {**params, "layers": new}


def reorder(params: dict) -> dict:
    """Heads and MLP neurons of every layer sorted by importance (the largest subnet's function is kept)."""
    h, m = orders(params["layers"])
    return permute(params, h, m)
