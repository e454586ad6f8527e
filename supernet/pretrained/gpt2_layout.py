"""GPT-2 tensors <-> the supernet's parameter layout.

:func:`to_supernet` places a GPT-2 checkpoint into the supernet of a space whose
largest subnet has the checkpoint's shape, so that the largest subnet computes
the checkpoint's function; every smaller subnet starts from the leading slices
(weight entanglement: HAT, Wang et al., ACL 2020; AutoFormer, Chen et al., ICCV
2021).  HF's ``c_attn`` (E, 3E) is ``[q | k | v]`` with heads contiguous, i.e.
exactly the supernet's ``qkv`` kernel (E, 3, H, hd) flattened; ``c_proj`` (E, E)
is the ``out`` kernel (H, hd, E) flattened.

:func:`from_subnet` is the inverse for one subnet's standalone weights (the
output of :func:`supernet.extract.extract`): GPT-2 has one head count, one MLP
width, softmax attention and ``n_head * head_dim == n_embd`` in every layer, so
only a subnet that is uniform in those respects can be written; any other says
in one line why not.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces import mixers as specs
from search_spaces.errors import NasError
from supernet import model
from supernet.pretrained import hf_gpt2, importance
from supernet.widths import mlp_widths

# ---- what the space's task computes ---------------------------------------------------------


def task_facts(space: SearchSpace) -> dict[str, Any]:
    """The facts of a space's LM task that decide whether it computes GPT-2's function."""
    geo = model.geometry(space)
    if not geo.is_causal_lm:
        raise NasError(
            f"space '{space.name}': a GPT-2 checkpoint needs a causal LM task, not {space.task.get('kind')!r}"
        )
    return {"ln_eps": geo.ln_eps, "tied": geo.tied}


def _template(space: SearchSpace) -> dict:
    """Shapes of the supernet's params (no arrays computed)."""
    return jax.eval_shape(lambda: model.init(space, jax.random.key(0)))


def check_fit(shape: dict[str, Any], space: SearchSpace, *, source: str) -> None:
    """The space's largest subnet must have the checkpoint's shape: one line naming the first misfit."""
    geo = model.geometry(space)
    pairs = [
        ("n_embd", shape["embed_dim"], "largest embed_dim", max(geo.embed_choices)),
        ("n_layer", shape["depth"], "max_depth", geo.max_depth),
        ("n_head", shape["num_heads"], "largest num_heads", max(geo.head_choices)),
        ("head width n_embd/n_head", shape["head_dim"], "task.head_dim", geo.head_dim),
        ("n_inner", shape["mlp_dim"], "largest mlp_dim", geo.max_mlp),
        ("vocab_size", shape["vocab_size"], "task.vocab_size", geo.in_dim),
    ]
    for ck_name, ck, sp_name, sp in pairs:
        if ck != sp:
            raise NasError(f"{source}: {ck_name} is {ck} but space '{space.name}' has {sp_name} {sp}")
    if geo.tokens > shape["positions"]:
        raise NasError(
            f"{source}: n_positions is {shape['positions']} but space '{space.name}' has task.seq_len {geo.tokens}"
        )
    if specs.default().key not in geo.attn_choices:
        raise NasError(
            f"space '{space.name}': field 'mixer' has no {specs.default().key!r} (softmax attention) choice; GPT-2 needs it"
        )
    facts = task_facts(space)
    if not np.isclose(facts["ln_eps"], shape["ln_eps"], rtol=1e-3, atol=0):
        raise NasError(
            f"{source}: layer_norm_epsilon is {shape['ln_eps']} but space '{space.name}' has task.ln_eps {facts['ln_eps']}"
        )


# ---- import -------------------------------------------------------------------------------


def to_supernet(ckpt: hf_gpt2.Gpt2Checkpoint, space: SearchSpace) -> dict:
    """Supernet params whose largest subnet computes ``ckpt``'s function (float32 NumPy arrays)."""
    shape = ckpt.shape
    source = str(ckpt.folder or "checkpoint")
    check_fit(shape, space, source=source)
    t, L = ckpt.tensors, shape["depth"]
    E, H, hd, T = shape["embed_dim"], shape["num_heads"], shape["head_dim"], model.geometry(space).tokens

    def stack(suffix: str, reshape: tuple[int, ...] | None = None) -> np.ndarray:
        arrs = [t[f"h.{i}.{suffix}"] for i in range(L)]
        return np.stack([a.reshape(reshape) if reshape else a for a in arrs])

    head_w = t["wte.weight"] if shape["tied"] else t["lm_head.weight"]  # (V, E)
    params = {
        "embed": {"embedding": t["wte.weight"]},
        "pos": t["wpe.weight"][:T],
        "layers": {
            "ln1": {"scale": stack("ln_1.weight"), "bias": stack("ln_1.bias")},
            "qkv": {
                "kernel": stack("attn.c_attn.weight", (E, 3, H, hd)),
                "bias": stack("attn.c_attn.bias", (3, H, hd)),
            },
            "out": {"kernel": stack("attn.c_proj.weight", (H, hd, E)), "bias": stack("attn.c_proj.bias")},
            "ln2": {"scale": stack("ln_2.weight"), "bias": stack("ln_2.bias")},
            "fc1": {"kernel": stack("mlp.c_fc.weight"), "bias": stack("mlp.c_fc.bias")},
            "fc2": {"kernel": stack("mlp.c_proj.weight"), "bias": stack("mlp.c_proj.bias")},
        },
        "ln_f": {"scale": t["ln_f.weight"], "bias": t["ln_f.bias"]},
        "head": {"kernel": head_w.T, "bias": np.zeros(head_w.shape[0], np.float32)},
    }
    template = _template(space)
    if "head" not in template:
        if not shape["tied"]:
            raise NasError(f"{source}: tie_word_embeddings is false but space '{space.name}' ties the head")
        del params["head"]
    elif "bias" not in template["head"]:
        del params["head"]["bias"]
    _check_against(params, template, space)
    return jax.tree.map(lambda a: np.ascontiguousarray(a, np.float32), params)


def _check_against(params: dict, template: dict, space: SearchSpace) -> None:
    got = {jax.tree_util.keystr(p): a.shape for p, a in jax.tree_util.tree_leaves_with_path(params)}
    want = {jax.tree_util.keystr(p): a.shape for p, a in jax.tree_util.tree_leaves_with_path(template)}
    for name in sorted(set(want) | set(got)):
        if name not in got:
            raise NasError(
                f"space '{space.name}': supernet parameter {name} has no source in a GPT-2 checkpoint"
            )
        if name not in want:
            raise NasError(f"space '{space.name}': a GPT-2 checkpoint gives {name}, which the supernet lacks")
        if tuple(got[name]) != tuple(want[name]):
            raise NasError(
                f"supernet parameter {name}: checkpoint gives {got[name]}, supernet has {want[name]}"
            )


# ---- export -------------------------------------------------------------------------------


def why_not_gpt2(space: SearchSpace, arch: ArchConfig) -> str | None:
    """None if ``arch`` can be written as a GPT-2 folder, else the one-line reason."""
    geo = model.geometry(space)
    if not geo.is_causal_lm:
        return f"space '{space.name}' is not a causal LM ({space.task.get('kind')!r}); GPT-2 is one"
    widths = mlp_widths(arch)  # per layer, from mlp_dim or mlp_ratio x embed_dim
    mlp_dim = "mlp_dim" if "mlp_dim" in arch else "mlp_ratio"
    attn = {c.key for c in specs.arch_choices(arch)}
    if len(set(arch.num_heads)) > 1:
        return f"num_heads differs between layers {list(arch.num_heads)}; GPT-2 has one head count"
    if len(set(widths)) > 1:
        return f"{mlp_dim} differs between layers {list(arch[mlp_dim])}; GPT-2 has one MLP width"
    if attn != {specs.default().key}:
        return f"mixer is {list(specs.layer_mixers(arch))}; GPT-2 has softmax attention in every layer"
    if set(arch.per_layer("num_ffn", 1)) != {1}:
        return f"num_ffn is {list(arch.per_layer('num_ffn', 1))}; GPT-2 has one FFN hidden layer"
    A = arch.num_heads[0] * geo.head_dim
    if A != arch.embed_dim:
        return (
            f"num_heads x head_dim = {arch.num_heads[0]} x {geo.head_dim} = {A} differs from "
            f"embed_dim {arch.embed_dim}; GPT-2 needs n_head * head_dim == n_embd"
        )
    return None


def from_subnet(space: SearchSpace, arch: ArchConfig, variables: dict) -> tuple[dict, dict]:
    """``(config.json, tensors)`` of the GPT-2 that computes subnet ``arch``'s function.

    ``variables``: ``{"params": ...}`` standalone weights of ``arch`` (see :func:`supernet.extract.extract`).
    """
    reason = why_not_gpt2(space, arch)
    if reason is not None:
        raise NasError(f"cannot write a GPT-2 folder: {reason}")
    p = jax.tree.map(np.asarray, variables["params"])
    facts = task_facts(space)
    E, V = int(arch.embed_dim), model.geometry(space).in_dim
    tensors = {"wte.weight": p["embed"]["embedding"], "wpe.weight": p["pos"]}
    for i in range(arch.depth):
        b, h = p[f"block{i}"], f"h.{i}."
        tensors.update(
            {
                h + "ln_1.weight": b["ln1"]["scale"],
                h + "ln_1.bias": b["ln1"]["bias"],
                h + "attn.c_attn.weight": b["qkv"]["kernel"],
                h + "attn.c_attn.bias": b["qkv"]["bias"],
                h + "attn.c_proj.weight": b["out"]["kernel"],
                h + "attn.c_proj.bias": b["out"]["bias"],
                h + "ln_2.weight": b["ln2"]["scale"],
                h + "ln_2.bias": b["ln2"]["bias"],
                h + "mlp.c_fc.weight": b["fc1"]["kernel"],
                h + "mlp.c_fc.bias": b["fc1"]["bias"],
                h + "mlp.c_proj.weight": b["fc2"]["kernel"],
                h + "mlp.c_proj.bias": b["fc2"]["bias"],
            }
        )
    tensors["ln_f.weight"], tensors["ln_f.bias"] = p["ln_f"]["scale"], p["ln_f"]["bias"]
    tied = "head" not in p
    if not tied:
        bias = p["head"].get("bias")
        if bias is not None and np.any(bias != 0):
            raise NasError(
                f"cannot write a GPT-2 folder: the output head has a bias (max |b| = {np.abs(bias).max():.3g}); "
                "GPT-2's lm_head has none"
            )
        head = p["head"]["kernel"].T  # (V, E)
        tied = bool(np.array_equal(head, tensors["wte.weight"]))
        if not tied:
            tensors["lm_head.weight"] = head
    shape = {
        "embed_dim": E,
        "depth": arch.depth,
        "num_heads": int(arch.num_heads[0]),
        "head_dim": model.geometry(space).head_dim,
        "mlp_dim": mlp_widths(arch)[0],
        "vocab_size": V,
        "positions": int(tensors["wpe.weight"].shape[0]),
        "ln_eps": facts["ln_eps"],
        "tied": tied,
    }
    config = hf_gpt2.config_for(shape, nas_arch=arch.to_dict(), nas_space=space.name)
    return config, tensors


reorder = importance.reorder  # heads and neurons by importance (see supernet.pretrained.importance)
