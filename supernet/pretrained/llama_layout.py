"""Llama tensors <-> the supernet's Llama layout (:mod:`supernet.llama`), and spaces from configs.

:func:`to_supernet` places a Llama checkpoint into the supernet of a space whose
largest subnet has the checkpoint's shape (PyTorch ``Linear`` (out, in) weights
transposed; ``q_proj`` (H hd, E) becomes the ``q`` kernel (E, H, hd)); smaller
subnets start from leading slices (weight entanglement).  :func:`from_subnet` is
the inverse for one subnet's stand-alone weights; Llama's config has one head
count, one KV-head count and one MLP width, so only a subnet uniform in those can
be written.  :func:`space_for` derives an elastic space from a config, its
largest subnet the checkpoint (``nas spaces from-hf``).

Importance (:func:`reorder`, as :mod:`.importance` does for GPT-2): KV groups (a KV
head with its query heads) are sorted by the summed score of their query heads,
the query heads inside a group by their own score (``||W_q||·||W_k|| + ||W_v||·||W_o||``
of the head and its KV head), and SwiGLU channels by ``||gate_j||·||up_j||·||down_j||``;
every such permutation keeps the largest subnet's function.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from search_spaces import ArchConfig, SearchSpace, space_from_dict
from search_spaces.errors import NasError
from supernet import llama, model
from supernet.pretrained.hf_llama import LlamaCheckpoint, config_for, llama_shape
from supernet.widths import mlp_widths

# ---- import -------------------------------------------------------------------------------------


def check_fit(shape: dict[str, Any], space: SearchSpace, *, source: str) -> None:
    """The space's largest subnet must have the checkpoint's shape: one line naming the first misfit."""
    geo = model.geometry(space)
    if not geo.task.llama:
        raise NasError(f"space '{space.name}': a Llama checkpoint needs 'task.block: llama'")
    pairs = [
        ("hidden_size", shape["embed_dim"], "largest embed_dim", max(geo.embed_choices)),
        ("num_hidden_layers", shape["depth"], "max_depth", geo.max_depth),
        ("num_attention_heads", shape["num_heads"], "largest num_heads", max(geo.head_choices)),
        (
            "num_key_value_heads",
            shape["num_kv_heads"],
            "largest num_kv_heads",
            max(geo.kv_choices or geo.head_choices),
        ),
        ("head_dim", shape["head_dim"], "task.head_dim", geo.head_dim),
        ("intermediate_size", shape["mlp_dim"], "largest mlp_dim", geo.max_mlp),
        ("vocab_size", shape["vocab_size"], "task.vocab_size", geo.in_dim),
        ("tie_word_embeddings", shape["tied"], "task.tie_embeddings", geo.tied),
        ("rope_theta", shape["rope_theta"], "task.rope_theta", geo.task.rope_theta),
    ]
    for ck_name, ck, sp_name, sp in pairs:
        if ck != sp:
            raise NasError(f"{source}: {ck_name} is {ck} but space '{space.name}' has {sp_name} {sp}")
    if not np.isclose(shape["ln_eps"], geo.ln_eps, rtol=1e-3, atol=0):
        raise NasError(
            f"{source}: rms_norm_eps is {shape['ln_eps']} but space '{space.name}' has task.ln_eps {geo.ln_eps}"
        )
    from search_spaces.geometry import rope_scaling_pairs

    if rope_scaling_pairs(shape["rope_scaling"], where=source) != geo.task.rope_scaling:
        raise NasError(f"{source}: rope_scaling is {shape['rope_scaling']} but space '{space.name}' differs")
    if geo.tokens > shape["positions"]:
        raise NasError(
            f"{source}: max_position_embeddings is {shape['positions']} but space '{space.name}' has task.seq_len {geo.tokens}"
        )


def to_supernet(ckpt: LlamaCheckpoint, space: SearchSpace) -> dict:
    """Supernet params whose largest subnet computes ``ckpt``'s function (float32 NumPy arrays)."""
    shape, source = ckpt.shape, str(ckpt.folder or "checkpoint")
    check_fit(shape, space, source=source)
    t, L, E = ckpt.tensors, shape["depth"], shape["embed_dim"]
    H, K, hd = shape["num_heads"], shape["num_kv_heads"], shape["head_dim"]

    def stack(suffix: str, fn) -> np.ndarray:
        return np.stack([fn(t[f"layers.{i}.{suffix}"]) for i in range(L)])

    params = {
        "embed": {"embedding": t["embed_tokens.weight"]},
        "layers": {
            "ln1": {"scale": stack("input_layernorm.weight", lambda a: a)},
            "q": {"kernel": stack("self_attn.q_proj.weight", lambda a: a.T.reshape(E, H, hd))},
            "k": {"kernel": stack("self_attn.k_proj.weight", lambda a: a.T.reshape(E, K, hd))},
            "v": {"kernel": stack("self_attn.v_proj.weight", lambda a: a.T.reshape(E, K, hd))},
            "o": {"kernel": stack("self_attn.o_proj.weight", lambda a: a.T.reshape(H, hd, E))},
            "ln2": {"scale": stack("post_attention_layernorm.weight", lambda a: a)},
            "gate": {"kernel": stack("mlp.gate_proj.weight", lambda a: a.T)},
            "up": {"kernel": stack("mlp.up_proj.weight", lambda a: a.T)},
            "down": {"kernel": stack("mlp.down_proj.weight", lambda a: a.T)},
        },
        "ln_f": {"scale": t["norm.weight"]},
    }
    if not shape["tied"]:
        params["head"] = {"kernel": t["lm_head.weight"].T}
    template = jax.eval_shape(lambda: model.init(space, jax.random.key(0)))
    got = {jax.tree_util.keystr(p): a.shape for p, a in jax.tree_util.tree_leaves_with_path(params)}
    want = {jax.tree_util.keystr(p): a.shape for p, a in jax.tree_util.tree_leaves_with_path(template)}
    for name in sorted(set(want) | set(got)):
        if got.get(name) != want.get(name):
            raise NasError(
                f"supernet parameter {name}: checkpoint gives {got.get(name)}, supernet has {want.get(name)}"
            )
    return jax.tree.map(lambda a: np.ascontiguousarray(a, np.float32), params)


# ---- importance ---------------------------------------------------------------------------------


def _norms(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return np.sqrt((a.astype(np.float64) ** 2).sum(axis=axes))


def orders(layers: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-layer permutations of KV heads (L, K), query heads (L, H) and channels (L, M), best first."""
    q, k, v, o = (np.asarray(layers[n]["kernel"]) for n in ("q", "k", "v", "o"))
    L, _, H, _ = q.shape
    K = k.shape[2]
    g = H // K
    qn, kn, vn, on = _norms(q, (1, 3)), _norms(k, (1, 3)), _norms(v, (1, 3)), _norms(o, (2, 3))  # (L, H|K)
    group = np.arange(H) // g
    head = qn * kn[:, group] + vn[:, group] * on  # (L, H)
    kv_order = np.argsort(-head.reshape(L, K, g).sum(2), axis=1, kind="stable")
    within = np.argsort(-head.reshape(L, K, g), axis=2, kind="stable")  # (L, K, g)
    q_order = np.stack(
        [(kv_order[i][:, None] * g + np.take(within[i], kv_order[i], axis=0)).reshape(H) for i in range(L)]
    )
    gate, up, down = (np.asarray(layers[n]["kernel"]) for n in ("gate", "up", "down"))
    chan = _norms(gate, (1,)) * _norms(up, (1,)) * _norms(down, (2,))
    return kv_order, q_order, np.argsort(-chan, axis=1, kind="stable")


def reorder(params: dict) -> dict:
    """KV groups, query heads and SwiGLU channels of every layer sorted by importance (function kept)."""
    lay = params["layers"]
    kv_order, q_order, m_order = orders(lay)
    L = kv_order.shape[0]

    def take(a, order, axis):
        a = np.asarray(a)
        return np.stack([np.take(a[i], order[i], axis=axis) for i in range(L)])

    new = dict(lay)
    new["q"] = {"kernel": take(lay["q"]["kernel"], q_order, 1)}  # (E, H, hd) per layer
    new["k"] = {"kernel": take(lay["k"]["kernel"], kv_order, 1)}
    new["v"] = {"kernel": take(lay["v"]["kernel"], kv_order, 1)}
    new["o"] = {"kernel": take(lay["o"]["kernel"], q_order, 0)}  # (H, hd, E)
    new["gate"] = {"kernel": take(lay["gate"]["kernel"], m_order, 1)}
    new["up"] = {"kernel": take(lay["up"]["kernel"], m_order, 1)}
    new["down"] = {"kernel": take(lay["down"]["kernel"], m_order, 0)}
    return {**params, "layers": new}


# ---- export -------------------------------------------------------------------------------------


def why_not_llama(space: SearchSpace, arch: ArchConfig) -> str | None:
    """None if ``arch`` can be written as a Llama folder, else the one-line reason."""
    if not model.geometry(space).task.llama:
        return f"space '{space.name}' has no Llama blocks (task.block is {space.task.get('block', 'gpt')!r})"
    for name, values in (
        ("num_heads", [int(h) for h in arch.num_heads]),
        ("num_kv_heads", list(llama.kv_heads(arch))),
        ("mlp_dim", list(mlp_widths(arch))),
    ):
        if len(set(values)) > 1:
            return (
                f"{name} differs between layers {values}; Llama's config has one value for all layers "
                "(the project's bundle, 'nas export', keeps this subnet)"
            )
    return None


def from_subnet(
    space: SearchSpace, arch: ArchConfig, variables: dict, *, max_positions: int | None = None
) -> tuple[dict, dict]:
    """``(config.json, tensors)`` of the Llama that computes subnet ``arch``'s function.

    ``max_position_embeddings`` is ``max_positions``, else the space's ``task.max_positions``
    (the checkpoint's own, for a space made from one), else its ``seq_len``."""
    reason = why_not_llama(space, arch)
    if reason is not None:
        raise NasError(f"cannot write a Llama folder: {reason}")
    p = jax.tree.map(np.asarray, variables["params"])
    tg = model.geometry(space).task
    tensors = {"embed_tokens.weight": p["embed"]["embedding"]}
    for i in range(arch.depth):
        b, h = p[f"block{i}"], f"layers.{i}."
        tensors.update(
            {
                h + "input_layernorm.weight": b["ln1"]["scale"],
                h + "self_attn.q_proj.weight": b["q"]["kernel"].T,
                h + "self_attn.k_proj.weight": b["k"]["kernel"].T,
                h + "self_attn.v_proj.weight": b["v"]["kernel"].T,
                h + "self_attn.o_proj.weight": b["o"]["kernel"].T,
                h + "post_attention_layernorm.weight": b["ln2"]["scale"],
                h + "mlp.gate_proj.weight": b["gate"]["kernel"].T,
                h + "mlp.up_proj.weight": b["up"]["kernel"].T,
                h + "mlp.down_proj.weight": b["down"]["kernel"].T,
            }
        )
    tensors["norm.weight"] = p["ln_f"]["scale"]
    if "head" in p:
        tensors["lm_head.weight"] = p["head"]["kernel"].T
    shape = {
        "embed_dim": int(arch.embed_dim),
        "depth": arch.depth,
        "num_heads": int(arch.num_heads[0]) if arch.depth else 1,
        "num_kv_heads": llama.kv_heads(arch)[0] if arch.depth else 1,
        "head_dim": tg.head_dim,
        "mlp_dim": mlp_widths(arch)[0] if arch.depth else 1,
        "vocab_size": tg.in_dim,
        "positions": int(max_positions or space.task.get("max_positions", tg.tokens)),
        "ln_eps": tg.ln_eps,
        "rope_theta": tg.rope_theta,
        "rope_scaling": space.task.get("rope_scaling"),
        "tied": tg.tied_head,
    }
    config = config_for(shape, nas_arch=arch.to_dict(), nas_space=space.name)
    return config, tensors


# ---- a space from a config ----------------------------------------------------------------------


def _fractions(n: int, fracs: tuple[float, ...], *, multiple: int = 1) -> list[int]:
    """Distinct choices round(n * f) to ``multiple`` (at least ``multiple``), n itself included."""
    out = {max(multiple, int(round(n * f / multiple)) * multiple) for f in fracs}
    return sorted(c for c in out | {n} if c <= n)


def space_for(
    config: dict[str, Any],
    *,
    name: str,
    seq_len: int | None = None,
    per_model: bool = False,
    source: str = "config.json",
) -> SearchSpace:
    """An elastic space whose largest subnet is the checkpoint of ``config`` (a Llama config.json).

    Heads, KV heads and MLP width are chosen per layer, or once per model with ``per_model``
    (as a Llama config has them: every subnet of such a space exports as a Llama folder).
    """
    s = llama_shape(config, source=source)
    E, L, H, K, M = s["embed_dim"], s["depth"], s["num_heads"], s["num_kv_heads"], s["mlp_dim"]
    T = seq_len if seq_len is not None else min(s["positions"], 2048)
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= s["positions"]:
        raise NasError(f"field '--seq-len': must be an integer in [1, {s['positions']}], got {T!r}")
    quarters = (0.25, 0.5, 0.75, 1.0)
    g = H // K
    task = {
        "kind": "lm",
        "block": "llama",
        "vocab_size": s["vocab_size"],
        "seq_len": T,
        "head_dim": s["head_dim"],
        "ln_eps": s["ln_eps"],
        "rope_theta": s["rope_theta"],
        "tie_embeddings": s["tied"],
    }
    if s["rope_scaling"]:
        task["rope_scaling"] = s["rope_scaling"]
    if s["positions"] != T:
        task["max_positions"] = s["positions"]  # what an exported folder says (RoPE: no position table)
    widths = {
        "num_heads": [K * j for j in _fractions(g, quarters)],
        "num_kv_heads": [d for d in range(1, K + 1) if K % d == 0],
        "mlp_dim": _fractions(M, quarters, multiple=8 if M >= 64 else 1),
    }
    return space_from_dict(
        {
            "name": name,
            "description": f"elastic Llama space whose largest subnet is the checkpoint '{name}'",
            "max_depth": L,
            "global": {
                "embed_dim": _fractions(E, (0.5, 0.75, 1.0), multiple=8 if E >= 32 else 1),
                "depth": _fractions(L, (0.5, 0.75, 1.0)),
                **(widths if per_model else {}),
            },
            "layer": {} if per_model else widths,
            "task": task,
        },
        source=source,
    )
