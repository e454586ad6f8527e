"""Test helpers: a tiny random Llama written in the Hugging Face layout, and Llama's forward in NumPy.

The reference follows the architecture's definition (Touvron et al., 2023) and HF's
``modeling_llama`` conventions, independently of the supernet: RMSNorm, rotary
embeddings on pairs (i, i + hd/2) (``rotate_half``), grouped-query attention
(query head j reads KV head j // (H/K)), causal softmax scaled by 1/sqrt(hd),
SwiGLU MLP, final RMSNorm, head tied to the embedding or not.  Float64 throughout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def tiny_llama_config(
    *, vocab=96, embed=32, layers=2, heads=4, kv_heads=2, head_dim=8, inner=48, tied=True, scaling=None
) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": embed,
        "intermediate_size": inner,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500.0,
        "rope_scaling": scaling,
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
    }


def tiny_llama_tensors(config: dict, *, seed: int = 0, scale: float = 0.3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    E, M, V = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    A = config["num_attention_heads"] * config["head_dim"]
    KA = config["num_key_value_heads"] * config["head_dim"]

    def w(*shape, s=scale):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    t = {"model.embed_tokens.weight": w(V, E, s=1.0)}
    for i in range(config["num_hidden_layers"]):
        h = f"model.layers.{i}."
        t.update(
            {
                h + "input_layernorm.weight": 1 + w(E, s=0.2),
                h + "self_attn.q_proj.weight": w(A, E),
                h + "self_attn.k_proj.weight": w(KA, E),
                h + "self_attn.v_proj.weight": w(KA, E),
                h + "self_attn.o_proj.weight": w(E, A),
                h + "post_attention_layernorm.weight": 1 + w(E, s=0.2),
                h + "mlp.gate_proj.weight": w(M, E),
                h + "mlp.up_proj.weight": w(M, E),
                h + "mlp.down_proj.weight": w(E, M),
            }
        )
    t["model.norm.weight"] = 1 + w(E, s=0.2)
    if not config["tie_word_embeddings"]:
        t["lm_head.weight"] = w(V, E)
    return t


def write_tiny_llama(folder: Path, *, sharded: bool = False, seed: int = 0, **kw) -> Path:
    """A Llama folder in the HF layout (one file, or two shards with the index file)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_llama_config(**kw)
    tensors = tiny_llama_tensors(config, seed=seed)
    if sharded:
        names = sorted(tensors)
        half = {
            n: ("model-00001-of-00002.safetensors" if i % 2 else "model-00002-of-00002.safetensors")
            for i, n in enumerate(names)
        }
        for f in set(half.values()):
            save_file(
                {n: tensors[n] for n in names if half[n] == f}, str(folder / f), metadata={"format": "pt"}
            )
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": half}))
    else:
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def _rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def _inv_freq(config: dict) -> np.ndarray:
    hd = config["head_dim"]
    inv = 1.0 / config["rope_theta"] ** (np.arange(0, hd, 2) / hd)
    s = config.get("rope_scaling") or {}
    kind = s.get("rope_type", s.get("type"))
    if kind == "linear":
        inv = inv / s["factor"]
    elif kind == "llama3":  # HF _compute_llama3_parameters
        f, lo, hi, old = (
            s["factor"],
            s["low_freq_factor"],
            s["high_freq_factor"],
            s["original_max_position_embeddings"],
        )
        wl = 2 * np.pi / inv
        out = np.where(wl > old / lo, inv / f, inv)
        sm = (old / wl - lo) / (hi - lo)
        smoothed = (1 - sm) * out / f + sm * out
        medium = ~(wl < old / hi) & ~(wl > old / lo)
        inv = np.where(medium, smoothed, out)
    return inv


def llama_forward(folder: Path, ids: np.ndarray) -> np.ndarray:
    """Logits (B, T, V) of the Llama in ``folder`` for token ids (B, T), in float64 NumPy."""
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text())
    t = {}
    for f in sorted(folder.glob("*.safetensors")):
        t.update({k: v.astype(np.float64) for k, v in load_file(str(f)).items()})
    H, K, hd = config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]
    eps = config["rms_norm_eps"]
    B, T = ids.shape
    ang = np.arange(T)[:, None] * _inv_freq(config)[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))  # (T, hd)

    def rope(x):  # (B, heads, T, hd)
        rot = np.concatenate([-x[..., hd // 2 :], x[..., : hd // 2]], -1)
        return x * cos + rot * sin

    x = t["model.embed_tokens.weight"][ids]
    mask = np.tril(np.ones((T, T), bool))
    for i in range(config["num_hidden_layers"]):
        p = lambda n, i=i: t[f"model.layers.{i}.{n}"]  # noqa: E731
        h = _rms(x, p("input_layernorm.weight"), eps)
        q = (h @ p("self_attn.q_proj.weight").T).reshape(B, T, H, hd).transpose(0, 2, 1, 3)
        k = (h @ p("self_attn.k_proj.weight").T).reshape(B, T, K, hd).transpose(0, 2, 1, 3)
        v = (h @ p("self_attn.v_proj.weight").T).reshape(B, T, K, hd).transpose(0, 2, 1, 3)
        q, k = rope(q), rope(k)
        k, v = np.repeat(k, H // K, axis=1), np.repeat(v, H // K, axis=1)  # HF repeat_kv
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        s = np.where(mask, s, -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        a = (a / a.sum(-1, keepdims=True)) @ v  # (B, H, T, hd)
        x = x + a.transpose(0, 2, 1, 3).reshape(B, T, H * hd) @ p("self_attn.o_proj.weight").T
        h = _rms(x, p("post_attention_layernorm.weight"), eps)
        g = h @ p("mlp.gate_proj.weight").T
        x = x + ((g / (1 + np.exp(-g))) * (h @ p("mlp.up_proj.weight").T)) @ p("mlp.down_proj.weight").T
    x = _rms(x, t["model.norm.weight"], eps)
    head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    return x @ head.T
