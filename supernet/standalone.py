"""The plain (non-elastic) transformer of one architecture, in Flax linen.

This is the model a chosen subnet becomes: the supernet's ``extract`` slices
weights into exactly this parameter tree, latency is measured on it, and export
serializes it.  Read it top to bottom; shapes are in the comments (B batch, T
tokens, E embed width, H heads of width hd, A = H * hd, M MLP width).

Per layer: pre-LayerNorm residual blocks (Vaswani et al., 2017; Xiong et al.,
2020): a token mixer (softmax attention, linear attention, ...: the layer's
``mixer`` choice, computed by its file in :mod:`supernet.mixers`), then an MLP of
one or more hidden layers.  With ``task.block: llama`` the model
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
from search_spaces import mixers as specs
from search_spaces.geometry import TaskGeometry, geometry_of_task, task_geometry
from supernet import mixers
from supernet.layer_loop import StandaloneModel, blocks_then_head
from supernet.widths import mlp_widths


class Block(nn.Module):
    """x + Mixer(LN(x)), then x + MLP(LN(x)); x: (B, T, E).

    ``mixer``: the layer's mixer choice (:mod:`search_spaces.mixers`; its computation in
    :mod:`supernet.mixers`).  ``num_ffn`` stacked hidden layers of width ``mlp_dim`` in the
    MLP (FlexiBERT's stacked FFNs): ``fc1`` (E -> M), ``ffn1`` ... (M -> M), ``fc2`` (M -> E).
    ``init_mixers``: (choice, heads) of more mixers whose weights this block also creates
    (the supernet's initialization: every mixer of the space at its largest shape).
    """

    num_heads: int
    head_dim: int
    mlp_dim: int
    mixer: str
    causal: bool
    ln_eps: float = 1e-6
    num_ffn: int = 1
    init_mixers: tuple = ()

    @nn.compact
    def __call__(self, x: jax.Array, keep: jax.Array | None = None) -> jax.Array:
        """``keep`` (B, T) bool: tokens other tokens may attend to (None: all; False for padding)."""
        E = x.shape[-1]
        h = nn.LayerNorm(epsilon=self.ln_eps, name="ln1")(x)
        ctx = mixers.Params(self)
        for choice, heads in self.init_mixers:  # weights only (supernet init); shared names made once
            c = specs.get(choice)
            mixers.ops(c).forward(ctx, h, keep, H=heads, hd=self.head_dim, causal=self.causal, opt=c.opt)
        c = specs.get(self.mixer)
        a = mixers.ops(c).forward(
            ctx, h, keep, H=self.num_heads, hd=self.head_dim, causal=self.causal, opt=c.opt
        )
        x = x + a  # (B,T,E)
        h = nn.LayerNorm(epsilon=self.ln_eps, name="ln2")(x)
        h = nn.gelu(nn.Dense(self.mlp_dim, name="fc1")(h))  # (B,T,M); GELU, tanh approximation
        for j in range(1, self.num_ffn):
            h = nn.gelu(nn.Dense(self.mlp_dim, name=f"ffn{j}")(h))  # (B,T,M)
        return x + nn.Dense(E, name="fc2")(h)


class Transformer(StandaloneModel):
    """A ViT classifier, a causal LM or a bidirectional text encoder: the task block's geometry decides."""

    init_mixers: tuple = ()  # (choice, heads) pairs every block also creates weights for (supernet init)

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
        mlp, mixer, ffn = (
            mlp_widths(self.arch),
            specs.layer_mixers(self.arch),
            self.arch.per_layer("num_ffn", 1),
        )

        def block(i: int):
            b = Block(
                num_heads=self.arch.num_heads[i],
                head_dim=geo.head_dim,
                mlp_dim=mlp[i],
                mixer=mixer[i],
                causal=geo.causal,
                ln_eps=geo.ln_eps,
                num_ffn=ffn[i],
                init_mixers=self.init_mixers,
                name=f"block{i}",
            )
            return lambda h: b(h, keep)

        return blocks_then_head(
            x,
            depth=self.arch.depth,
            block=block,
            final_norm=nn.LayerNorm(epsilon=geo.ln_eps, name="ln_f"),
            geo=geo,
            embed=embed if geo.lookup else None,
            pool=(lambda h: pool(h, keep)) if geo.pooled else None,
        )  # (B,C) or (B,T,V)


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


def build(space: SearchSpace, arch: ArchConfig, *, init_mixers: tuple = ()) -> nn.Module:
    """The standalone Flax module of ``arch`` (validated against ``space``); ``init_mixers``: see
    :class:`Block` (the supernet's initialization only)."""
    if space.stages:  # staged vision spaces build through supernet.any_model (no import loop)
        from search_spaces.errors import NasError

        raise NasError(f"space '{space.name}' is staged: build its model with supernet.any_model.build")
    space.validate(arch)
    if task_geometry(space).llama:  # clear error if the space has no buildable task
        from supernet import llama

        return llama.Transformer(arch=arch, task=dict(space.task))
    return Transformer(arch=arch, task=dict(space.task), init_mixers=init_mixers)


def train_step(space: SearchSpace, arch: ArchConfig, tx: Any, *, module: nn.Module | None = None) -> Any:
    """One jitted step of ``arch`` trained alone with the optax optimizer ``tx``:
    ``step(params, opt_state, x, y) -> (params, opt_state, loss)``, the loss the mean softmax
    cross-entropy of integer labels (classes, or next tokens of a causal LM).  ``module``: the
    model to train (default :func:`build`'s; a staged space's comes from supernet.any_model)."""
    import optax

    m = module if module is not None else build(space, arch)

    def loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(m.apply({"params": p}, x), y).mean()

    @jax.jit
    def step(p, s, x, y):
        value, g = jax.value_and_grad(loss)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, value

    return step


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
