"""Test helpers: a tiny random GPT-2 written in the Hugging Face layout, and GPT-2's forward in NumPy.

The reference is written from the GPT-2 paper and HF's ``modeling_gpt2`` conventions, independently
of the supernet: token + learned position embeddings, pre-LayerNorm blocks, causal softmax attention
scaled by 1/sqrt(head_dim), the tanh GELU, a final LayerNorm and the output head tied to ``wte``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def tiny_gpt2_tensors(
    *, vocab=128, positions=64, embed=32, layers=3, heads=4, inner=128, seed=0, scale=0.15
) -> dict[str, np.ndarray]:
    """Random weights large enough that logits are O(1) (GPT-2's own 0.02 init makes them ~0)."""
    rng = np.random.default_rng(seed)

    def w(*shape, s=scale):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    t = {"wte.weight": w(vocab, embed, s=0.5), "wpe.weight": w(positions, embed, s=0.3)}
    for i in range(layers):
        h = f"h.{i}."
        t.update(
            {
                h + "ln_1.weight": 1 + w(embed, s=0.2),
                h + "ln_1.bias": w(embed, s=0.1),
                h + "attn.c_attn.weight": w(embed, 3 * embed, s=0.3),
                h + "attn.c_attn.bias": w(3 * embed, s=0.1),
                h + "attn.c_proj.weight": w(embed, embed),
                h + "attn.c_proj.bias": w(embed, s=0.1),
                h + "ln_2.weight": 1 + w(embed, s=0.2),
                h + "ln_2.bias": w(embed, s=0.1),
                h + "mlp.c_fc.weight": w(embed, inner),
                h + "mlp.c_fc.bias": w(inner, s=0.1),
                h + "mlp.c_proj.weight": w(inner, embed, s=0.1),
                h + "mlp.c_proj.bias": w(embed, s=0.1),
            }
        )
    t["ln_f.weight"], t["ln_f.bias"] = 1 + w(embed, s=0.2), w(embed, s=0.1)
    return t


def tiny_gpt2_config(*, vocab=128, positions=64, embed=32, layers=3, heads=4, inner=128, eps=1e-5) -> dict:
    """config.json as GPT2Config.save_pretrained writes it (the fields that matter)."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_positions": positions,
        "n_embd": embed,
        "n_layer": layers,
        "n_head": heads,
        "n_inner": inner,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": eps,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
    }


def write_tiny_gpt2(folder: Path, *, prefix: str = "transformer.", with_mask_buffers=False, **kw) -> Path:
    """A GPT-2 folder in the HF layout (tied head: no lm_head.weight, as save_pretrained writes it)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    eps = kw.pop("eps", 1e-5)
    seed, scale = kw.pop("seed", 0), kw.pop("scale", 0.15)
    config = tiny_gpt2_config(eps=eps, **kw)
    tensors = {prefix + k: v for k, v in tiny_gpt2_tensors(seed=seed, scale=scale, **kw).items()}
    if with_mask_buffers:  # what old transformers versions saved beside the weights
        P = config["n_positions"]
        for i in range(config["n_layer"]):
            tensors[f"{prefix}h.{i}.attn.bias"] = np.tril(np.ones((1, 1, P, P), np.float32))
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def gpt2_forward(folder: Path, ids: np.ndarray) -> np.ndarray:
    """(B, T) token ids -> (B, T, V) logits of the GPT-2 in ``folder``, in float64 NumPy."""
    from safetensors.numpy import load_file

    cfg = json.loads((Path(folder) / "config.json").read_text())
    raw = load_file(str(Path(folder) / "model.safetensors"))
    t = {k.removeprefix("transformer."): v.astype(np.float64) for k, v in raw.items()}
    E, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = E // H
    B, T = ids.shape
    x = t["wte.weight"][ids] + t["wpe.weight"][:T]  # (B,T,E)
    mask = np.tril(np.ones((T, T), bool))
    for i in range(cfg["n_layer"]):
        p = lambda n, i=i: t[f"h.{i}.{n}"]  # noqa: E731
        h = _ln(x, p("ln_1.weight"), p("ln_1.bias"), eps)
        qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")  # (B,T,3E)
        q, k, v = (a.reshape(B, T, H, hd).transpose(0, 2, 1, 3) for a in np.split(qkv, 3, axis=-1))
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)  # (B,H,T,T)
        s = np.where(mask, s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v  # (B,H,T,hd)
        a = a.transpose(0, 2, 1, 3).reshape(B, T, E)
        x = x + a @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = _ln(x, p("ln_2.weight"), p("ln_2.bias"), eps)
        x = x + _gelu_tanh(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias")) @ p("mlp.c_proj.weight")
        x = x + p("mlp.c_proj.bias")
    x = _ln(x, t["ln_f.weight"], t["ln_f.bias"], eps)
    head = t.get("lm_head.weight", t["wte.weight"])
    return x @ head.T
