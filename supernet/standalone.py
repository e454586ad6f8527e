"""The plain (non-elastic) transformer of one architecture, in Flax linen.

This is the model a chosen subnet becomes: the supernet's ``extract`` slices
weights into exactly this parameter tree, latency is measured on it, and export
serializes it.  Read it top to bottom; shapes are in the comments (B batch, T
tokens, E embed width, H heads of width hd, A = H * hd, M MLP width).

Per layer: pre-LayerNorm residual blocks (Vaswani et al., 2017; Xiong et al.,
2020) with either softmax attention or linear attention with the ``elu + 1``
feature map (Katharopoulos et al., "Transformers are RNNs", ICML 2020), whose
causal form keeps running key-value sums.  With ``task.block: llama`` the model
is :class:`supernet.llama.Transformer` instead (RMSNorm, RoPE, SwiGLU, GQA).  ``search_spaces.complexity`` counts
exactly these parameters and these matrix products.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces.geometry import TaskGeometry, geometry_of_task, task_geometry
from supernet.widths import mlp_widths


def feature_map(x: jax.Array) -> jax.Array:
    """phi(x) = elu(x) + 1 > 0 (Katharopoulos et al., 2020)."""
    return jax.nn.elu(x) + 1.0


def softmax_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool, keep: jax.Array | None = None
) -> jax.Array:
    """q, k, v: (B, T, H, hd) -> (B, T, H, hd); ``keep`` (B, T) bool: keys to attend to (None: all)."""
    scores = jnp.einsum("bthd,bshd->bhts", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)  # (B,H,T,T)
    if causal:
        T = q.shape[1]
        scores = jnp.where(jnp.tril(jnp.ones((T, T), dtype=bool)), scores, jnp.finfo(scores.dtype).min)
    if keep is not None:  # padding keys get no weight (an all-padding row attends uniformly, stays finite)
        scores = jnp.where(keep[:, None, None, :], scores, jnp.finfo(scores.dtype).min)
    return jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(scores, axis=-1), v)


def linear_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    causal: bool,
    keep: jax.Array | None = None,
    eps: float = 1e-6,
    chunk: int = 64,
) -> jax.Array:
    """Kernelized attention (Katharopoulos et al., ICML 2020). q, k, v: (B, T, H, hd) -> (B, T, H, hd).

    ``keep`` (B, T) bool: keys to attend to (None: all); a dropped key's phi(k) is zero, so it
    adds nothing to the key-value sums nor to the normalizer.

    The causal form is computed in chunks of ``chunk`` positions (the chunkwise form of
    Katharopoulos et al. / Yang et al., "Gated Linear Attention", ICML 2024): within a chunk
    the masked quadratic form ``(phi(q) phi(k)^T * tril) v``, across chunks the running
    key-value sums of the earlier chunks only.  The same function as a running sum at every
    position, but it never holds a (B, T, H, hd, hd) tensor: at 128 tokens and 8 heads of 32
    that running sum made a forward-backward pass 27x slower (243 vs 9 ms on one core).
    """
    q, k = feature_map(q), feature_map(k)
    if keep is not None:
        k = k * keep[:, :, None, None].astype(k.dtype)
    if not causal:
        kv = jnp.einsum("bthd,bthe->bhde", k, v)  # (B,H,hd,hd)
        num = jnp.einsum("bthd,bhde->bthe", q, kv)
        den = jnp.einsum("bthd,bhd->bth", q, k.sum(axis=1))
        return num / (den[..., None] + eps)
    B, T, H, _ = q.shape
    C = min(T, chunk)
    n = -(-T // C)
    if n * C > T:  # padded positions come last: no real query sees them
        q, k, v = (jnp.pad(a, ((0, 0), (0, n * C - T), (0, 0), (0, 0))) for a in (q, k, v))
    qc, kc, vc = (a.reshape(B, n, C, H, a.shape[-1]) for a in (q, k, v))
    s = jnp.einsum("bnthd,bnshd->bnhts", qc, kc) * jnp.tril(jnp.ones((C, C), q.dtype))
    num = jnp.einsum("bnhts,bnshe->bnthe", s, vc)
    den = s.sum(-1).transpose(0, 1, 3, 2)  # (B,n,C,H)
    if n > 1:  # the key-value and key sums of the chunks before each chunk
        kv = jnp.cumsum(jnp.einsum("bnshd,bnshe->bnhde", kc, vc), axis=1)
        ks = jnp.cumsum(kc.sum(axis=2), axis=1)
        kv = jnp.concatenate([jnp.zeros_like(kv[:, :1]), kv[:, :-1]], axis=1)
        ks = jnp.concatenate([jnp.zeros_like(ks[:, :1]), ks[:, :-1]], axis=1)
        num = num + jnp.einsum("bnthd,bnhde->bnthe", qc, kv)
        den = den + jnp.einsum("bnthd,bnhd->bnth", qc, ks)
    out = num / (den[..., None] + eps)
    return out.reshape(B, n * C, H, out.shape[-1])[:, :T]


class Block(nn.Module):
    """x + Attn(LN(x)), then x + MLP(LN(x)); x: (B, T, E)."""

    num_heads: int
    head_dim: int
    mlp_dim: int
    attn_type: str
    causal: bool
    ln_eps: float = 1e-6

    @nn.compact
    def __call__(self, x: jax.Array, keep: jax.Array | None = None) -> jax.Array:
        """``keep`` (B, T) bool: tokens other tokens may attend to (None: all; False for padding)."""
        B, T, E = x.shape
        H, hd = self.num_heads, self.head_dim
        h = nn.LayerNorm(epsilon=self.ln_eps, name="ln1")(x)
        qkv = nn.Dense(3 * H * hd, name="qkv")(h).reshape(B, T, 3, H, hd)  # (B,T,3,H,hd)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        attend = linear_attention if self.attn_type == "linear" else softmax_attention
        a = attend(q, k, v, causal=self.causal, keep=keep).reshape(B, T, H * hd)  # (B,T,A)
        x = x + nn.Dense(E, name="out")(a)
        h = nn.LayerNorm(epsilon=self.ln_eps, name="ln2")(x)
        h = nn.gelu(nn.Dense(self.mlp_dim, name="fc1")(h))  # (B,T,M); GELU, tanh approximation
        return x + nn.Dense(E, name="fc2")(h)


class Transformer(nn.Module):
    """A ViT classifier, a causal LM or a bidirectional text encoder: the task block's geometry decides."""

    arch: ArchConfig
    task: dict[str, Any]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        geo, E = geometry_of_task(self.task), self.arch.embed_dim
        keep = padding_keep(x, geo)  # (B,T) bool or None
        if geo.lookup:
            embed = nn.Embed(geo.in_dim, E, name="embed")
            x = embed(x)  # (B,T,E)
        else:
            x = patchify(x, patch=geo.patch_size, channels=geo.channels)  # (B,T,P)
            x = nn.Dense(E, name="embed")(x)  # (B,T,E)
        pos = self.param("pos", nn.initializers.normal(0.02), (geo.tokens, E))
        x = x + pos[: x.shape[1]]
        mlp = mlp_widths(self.arch)
        for i in range(self.arch.depth):
            x = Block(
                num_heads=self.arch.num_heads[i],
                head_dim=geo.head_dim,
                mlp_dim=mlp[i],
                attn_type=self.arch.attn_type[i],
                causal=geo.causal,
                ln_eps=geo.ln_eps,
                name=f"block{i}",
            )(x, keep)
        x = nn.LayerNorm(epsilon=geo.ln_eps, name="ln_f")(x)
        if geo.pooled:
            x = pool(x, keep)  # (B,E)
        if geo.tied_head:
            return embed.attend(x)  # (B,T,V) = x @ embedding^T, no bias
        return nn.Dense(geo.out_dim, name="head")(x)  # (B,C) or (B,T,V)


def padding_keep(x: jax.Array, geo: TaskGeometry) -> jax.Array | None:
    """(B, T) bool, False at padding (id ``geo.pad_id``) of a pooled token-id input; else None.

    Attention ignores padded keys and pooling averages over the other tokens, so a text
    right-padded to ``seq_len`` is classified exactly as the same text unpadded (the
    key padding mask of BERT, Devlin et al., 2019).
    """
    if not (geo.lookup and geo.pooled):
        return None
    return x != geo.pad_id


def pool(x: jax.Array, keep: jax.Array | None) -> jax.Array:
    """Mean over the kept tokens: (B, T, E) -> (B, E) (all tokens when ``keep`` is None)."""
    if keep is None:
        return x.mean(axis=1)
    w = keep.astype(x.dtype)[..., None]  # (B,T,1)
    return (x * w).sum(axis=1) / jnp.maximum(w.sum(axis=1), 1.0)


def patchify(images: jax.Array, *, patch: int, channels: int) -> jax.Array:
    """(B, H, W[, C]) or (B, H*W*C) images -> (B, patches, patch*patch*C)."""
    B = images.shape[0]
    if images.ndim == 2:
        side = int(round((images.shape[1] // channels) ** 0.5))
        images = images.reshape(B, side, side, channels)
    elif images.ndim == 3:
        images = images[..., None]
    _, Hh, W, C = images.shape
    x = images.reshape(B, Hh // patch, patch, W // patch, patch, C).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(B, (Hh // patch) * (W // patch), patch * patch * C)


def build(space: SearchSpace, arch: ArchConfig) -> nn.Module:
    """The standalone Flax module of ``arch`` (validated against ``space``)."""
    space.validate(arch)
    if task_geometry(space).llama:  # clear error if the space has no buildable task
        from supernet import llama

        return llama.Transformer(arch=arch, task=dict(space.task))
    return Transformer(arch=arch, task=dict(space.task))


def example_input(space: SearchSpace, batch_size: int = 1, seq_len: int | None = None) -> jax.Array:
    """A zero input of the right shape and dtype (the export signature): images or token ids."""
    geo = task_geometry(space)
    if not geo.lookup:
        return jnp.zeros((batch_size, *geo.image_hw, geo.channels), jnp.float32)
    return jnp.zeros((batch_size, seq_len or geo.tokens), jnp.int32)


def init(space: SearchSpace, arch: ArchConfig, key: jax.Array) -> dict:
    """Fresh parameters of the standalone model: ``{"params": ...}``."""
    return build(space, arch).init(key, example_input(space))


def random_variables(model: Any, x: Any, *, seed: int = 0) -> Any:
    """Variables of the right shapes filled from numpy (latency does not depend on values).

    ``model.init`` would compile and run every initializer op by op, which on a
    busy CPU costs more than compiling the forward itself.
    """
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray((0.02 * rng.standard_normal(s.shape)).astype(s.dtype)), shapes)
