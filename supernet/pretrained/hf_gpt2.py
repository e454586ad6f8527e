"""Hugging Face GPT-2 folders: read and write ``config.json`` + ``model.safetensors`` (+ tokenizer).

A folder as ``GPT2LMHeadModel.save_pretrained`` writes it, read with the
``safetensors`` NumPy API (never a pickle: ``pytorch_model.bin`` is refused)::

    config.json            n_embd, n_layer, n_head, n_inner, vocab_size, n_positions,
                           layer_norm_epsilon, activation_function, tie_word_embeddings
    model.safetensors      or model.safetensors.index.json + shards
    tokenizer.json         optional (a ``tokenizers`` file), copied through unchanged

Tensor names (Radford et al., 2019; HF's ``Conv1D`` stores weights as (in, out)),
with or without the ``transformer.`` prefix::

    wte.weight (V, E)  wpe.weight (P, E)  ln_f.weight/bias (E,)
    h.{i}.ln_1.weight/bias (E,)  h.{i}.attn.c_attn.weight (E, 3E)  .bias (3E,)
    h.{i}.attn.c_proj.weight (E, E) .bias (E,)  h.{i}.ln_2.weight/bias (E,)
    h.{i}.mlp.c_fc.weight (E, M) .bias (M,)  h.{i}.mlp.c_proj.weight (M, E) .bias (E,)
    lm_head.weight (V, E)  only if present; tied to wte unless tie_word_embeddings is false

Causal-mask buffers that old versions saved (``h.{i}.attn.bias``, ``attn.masked_bias``)
are skipped.  Every other difference from this list is a one-line :class:`NasError`
naming the tensor and both shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from search_spaces.errors import NasError
from supernet.pretrained import hf_folder

TANH_GELU = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
_BUFFERS = (".attn.bias", ".attn.masked_bias")


class Gpt2Checkpoint(NamedTuple):
    """A GPT-2 checkpoint in memory: its shape facts, its tensors (canonical names) and its folder."""

    config: dict[str, Any]  # config.json as read
    tensors: dict[str, np.ndarray]  # names without the 'transformer.' prefix
    folder: Path | None

    @property
    def shape(self) -> dict[str, Any]:
        return gpt2_shape(self.config, source=str(self.folder or "checkpoint"))


def gpt2_shape(config: dict[str, Any], *, source: str = "config.json") -> dict[str, Any]:
    """The architecture facts of a GPT-2 ``config.json`` (defaults as in ``GPT2Config``)."""
    if config.get("model_type", "gpt2") != "gpt2":
        raise NasError(f"{source}: field 'model_type' is {config.get('model_type')!r}; expected 'gpt2'")
    try:
        E, L, H = int(config["n_embd"]), int(config["n_layer"]), int(config["n_head"])
        V, P = int(config["vocab_size"]), int(config.get("n_positions", config.get("n_ctx", 1024)))
    except KeyError as e:
        raise NasError(f"{source}: config.json has no field {e.args[0]!r}") from None
    if E % H:
        raise NasError(f"{source}: field 'n_embd' ({E}) is not divisible by 'n_head' ({H})")
    act = config.get("activation_function", "gelu_new")
    if act not in TANH_GELU:
        raise NasError(
            f"{source}: field 'activation_function' is {act!r}; the supernet computes the tanh GELU {TANH_GELU}"
        )
    for flag, want in (("scale_attn_by_inverse_layer_idx", False), ("reorder_and_upcast_attn", False)):
        if config.get(flag, want) != want:
            raise NasError(f"{source}: field '{flag}' is {config[flag]!r}; only {want!r} is supported")
    return {
        "embed_dim": E,
        "depth": L,
        "num_heads": H,
        "head_dim": E // H,
        "mlp_dim": int(config.get("n_inner") or 4 * E),
        "vocab_size": V,
        "positions": P,
        "ln_eps": float(config.get("layer_norm_epsilon", 1e-5)),
        "tied": bool(config.get("tie_word_embeddings", True)),
    }


def expected_shapes(shape: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Canonical tensor name -> shape of a GPT-2 of this ``shape`` (lm_head only when untied)."""
    E, M, V, P = shape["embed_dim"], shape["mlp_dim"], shape["vocab_size"], shape["positions"]
    out: dict[str, tuple[int, ...]] = {"wte.weight": (V, E), "wpe.weight": (P, E)}
    for i in range(shape["depth"]):
        h = f"h.{i}."
        out.update(
            {
                h + "ln_1.weight": (E,),
                h + "ln_1.bias": (E,),
                h + "attn.c_attn.weight": (E, 3 * E),
                h + "attn.c_attn.bias": (3 * E,),
                h + "attn.c_proj.weight": (E, E),
                h + "attn.c_proj.bias": (E,),
                h + "ln_2.weight": (E,),
                h + "ln_2.bias": (E,),
                h + "mlp.c_fc.weight": (E, M),
                h + "mlp.c_fc.bias": (M,),
                h + "mlp.c_proj.weight": (M, E),
                h + "mlp.c_proj.bias": (E,),
            }
        )
    out["ln_f.weight"], out["ln_f.bias"] = (E,), (E,)
    if not shape["tied"]:
        out["lm_head.weight"] = (V, E)
    return out


LAYOUT = hf_folder.Layout(gpt2_shape, expected_shapes, "transformer.", _BUFFERS, "wte.weight")


def read(folder: str | Path, *, field: str = "init_from") -> Gpt2Checkpoint:
    """Reads and checks a folder: every expected tensor present with its shape, nothing else;
    ``field`` names the option or argument that gave the folder in error messages."""
    return Gpt2Checkpoint(*hf_folder.read_checkpoint(folder, LAYOUT, field=field), Path(folder))


def config_for(shape: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ``config.json`` for a GPT-2 of this shape (what ``GPT2Config`` writes, the fields we set)."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": shape["vocab_size"],
        "n_positions": shape["positions"],
        "n_ctx": shape["positions"],
        "n_embd": shape["embed_dim"],
        "n_layer": shape["depth"],
        "n_head": shape["num_heads"],
        "n_inner": shape["mlp_dim"],
        "activation_function": "gelu_new",
        "layer_norm_epsilon": shape["ln_eps"],
        "tie_word_embeddings": shape["tied"],
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": True,
        "torch_dtype": "float32",
        **extra,
    }
