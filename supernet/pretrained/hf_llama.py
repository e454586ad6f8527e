"""Hugging Face Llama folders: read and write ``config.json`` + safetensors (+ tokenizer).

A folder as ``LlamaForCausalLM.save_pretrained`` writes it (SmolLM, TinyLlama and
other Llama-architecture checkpoints), read with the ``safetensors`` NumPy API
(never a pickle)::

    config.json   model_type llama; hidden_size, intermediate_size, num_hidden_layers,
                  num_attention_heads, num_key_value_heads, head_dim, vocab_size,
                  max_position_embeddings, rms_norm_eps, rope_theta, rope_scaling,
                  tie_word_embeddings, hidden_act silu, attention_bias/mlp_bias false
    model.safetensors   or model.safetensors.index.json + shards

Tensor names (PyTorch ``Linear`` weights are (out, in)), with the ``model.`` prefix::

    embed_tokens.weight (V, E)   norm.weight (E,)   lm_head.weight (V, E) unless tied
    layers.{i}.input_layernorm.weight (E,)   layers.{i}.post_attention_layernorm.weight (E,)
    layers.{i}.self_attn.q_proj.weight (H hd, E)  k_proj/v_proj.weight (K hd, E)  o_proj.weight (E, H hd)
    layers.{i}.mlp.gate_proj.weight (M, E)  up_proj.weight (M, E)  down_proj.weight (E, M)

``rotary_emb.inv_freq`` buffers that old versions saved are skipped; any other
difference is a one-line :class:`NasError` naming the tensor and both shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from search_spaces.errors import NasError
from search_spaces.geometry import rope_scaling_pairs
from supernet.pretrained import hf_folder

LLAMA_TYPES = ("llama",)
_BUFFERS = ("rotary_emb.inv_freq",)


class LlamaCheckpoint(NamedTuple):
    config: dict[str, Any]
    tensors: dict[str, np.ndarray]  # names without the 'model.' prefix (lm_head.weight as is)
    folder: Path | None

    @property
    def shape(self) -> dict[str, Any]:
        return llama_shape(self.config, source=str(self.folder or "checkpoint"))


def is_llama(config: dict[str, Any]) -> bool:
    return config.get("model_type") in LLAMA_TYPES


def llama_shape(config: dict[str, Any], *, source: str = "config.json") -> dict[str, Any]:
    """The architecture facts of a Llama ``config.json`` (defaults as in ``LlamaConfig``)."""
    kind = config.get("model_type")
    if kind not in LLAMA_TYPES:
        arch = (config.get("architectures") or [None])[0]
        raise NasError(
            f"{source}: field 'model_type' is {kind!r} ({arch}); a Llama-like checkpoint says {LLAMA_TYPES[0]!r}"
        )
    try:
        E, L = int(config["hidden_size"]), int(config["num_hidden_layers"])
        H, M, V = (
            int(config["num_attention_heads"]),
            int(config["intermediate_size"]),
            int(config["vocab_size"]),
        )
    except KeyError as e:
        raise NasError(f"{source}: config.json has no field {e.args[0]!r}") from None
    K = int(config.get("num_key_value_heads") or H)
    if H % K:
        raise NasError(
            f"{source}: num_attention_heads {H} is not a multiple of num_key_value_heads {K} (grouped-query attention)"
        )
    hd = int(config.get("head_dim") or E // H)
    act = config.get("hidden_act", "silu")
    if act != "silu":
        raise NasError(
            f"{source}: field 'hidden_act' is {act!r}; the Llama block computes SwiGLU with 'silu'"
        )
    for flag in ("attention_bias", "mlp_bias"):
        if config.get(flag, False):
            raise NasError(f"{source}: field '{flag}' is true; the Llama block has no biases")
    if int(config.get("pretraining_tp", 1)) != 1:
        raise NasError(
            f"{source}: field 'pretraining_tp' is {config['pretraining_tp']!r}; only 1 is supported"
        )
    scaling = config.get("rope_scaling")
    rope_scaling_pairs(scaling, where=source)  # a scaling type we do not compute is refused by name
    return {
        "embed_dim": E,
        "depth": L,
        "num_heads": H,
        "num_kv_heads": K,
        "head_dim": hd,
        "mlp_dim": M,
        "vocab_size": V,
        "positions": int(config.get("max_position_embeddings", 2048)),
        "ln_eps": float(config.get("rms_norm_eps", 1e-6)),
        "rope_theta": float(config.get("rope_theta", 10000.0)),
        "rope_scaling": dict(scaling) if scaling else None,
        "tied": bool(config.get("tie_word_embeddings", False)),
    }


def expected_shapes(shape: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    E, M, V = shape["embed_dim"], shape["mlp_dim"], shape["vocab_size"]
    A, KA = shape["num_heads"] * shape["head_dim"], shape["num_kv_heads"] * shape["head_dim"]
    out: dict[str, tuple[int, ...]] = {"embed_tokens.weight": (V, E)}
    for i in range(shape["depth"]):
        h = f"layers.{i}."
        out.update(
            {
                h + "input_layernorm.weight": (E,),
                h + "self_attn.q_proj.weight": (A, E),
                h + "self_attn.k_proj.weight": (KA, E),
                h + "self_attn.v_proj.weight": (KA, E),
                h + "self_attn.o_proj.weight": (E, A),
                h + "post_attention_layernorm.weight": (E,),
                h + "mlp.gate_proj.weight": (M, E),
                h + "mlp.up_proj.weight": (M, E),
                h + "mlp.down_proj.weight": (E, M),
            }
        )
    out["norm.weight"] = (E,)
    if not shape["tied"]:
        out["lm_head.weight"] = (V, E)
    return out


def read_config(folder: str | Path, *, field: str = "init_from") -> dict[str, Any]:
    """The folder's ``config.json`` (:func:`.hf_folder.read_config`)."""
    return hf_folder.read_config(folder, field=field)


LAYOUT = hf_folder.Layout(llama_shape, expected_shapes, "model.", _BUFFERS, "embed_tokens.weight")


def read(folder: str | Path, *, field: str = "init_from") -> LlamaCheckpoint:
    """Reads and checks a folder: every expected tensor present with its shape, nothing else;
    ``field`` names the option or argument that gave the folder in error messages."""
    return LlamaCheckpoint(*hf_folder.read_checkpoint(folder, LAYOUT, field=field), Path(folder))


def config_for(shape: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ``config.json`` for a Llama of this shape (the fields ``LlamaConfig`` reads)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": shape["vocab_size"],
        "hidden_size": shape["embed_dim"],
        "intermediate_size": shape["mlp_dim"],
        "num_hidden_layers": shape["depth"],
        "num_attention_heads": shape["num_heads"],
        "num_key_value_heads": shape["num_kv_heads"],
        "head_dim": shape["head_dim"],
        "max_position_embeddings": shape["positions"],
        "rms_norm_eps": shape["ln_eps"],
        "rope_theta": shape["rope_theta"],
        "rope_scaling": shape["rope_scaling"],
        "tie_word_embeddings": shape["tied"],
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "pretraining_tp": 1,
        "torch_dtype": "float32",
        **extra,
    }
