"""The geometry of the transformer a space's ``task`` block describes, in task-free terms.

Complexity (params, FLOPs, memory), latency features and the supernet all need
the same few numbers: how many tokens the model sees, how a token enters (an id
looked up in an embedding table, or a patch of pixels projected by a dense
layer), what comes out (logits per token, or one pooled prediction), whether
attention is causal, the head width, and whether the output head is tied to the
embedding.  These are *model* facts, stated by generic keys of the task block,
so this module never names a task kind (task kinds live in ``supernet.tasks``,
which builds on this module; nothing here imports it):

=================  =========================================================
key                meaning
=================  =========================================================
``head_dim``       width of one attention head (required)
``vocab_size``     token ids in [0, V) are looked up in a (V, E) table
``seq_len``        context: positions of a token-id input
``image_size``     int or [H, W]: the input is an image cut into patches
``patch_size``     side of a square patch (with ``image_size``)
``channels``       channels of the image (with ``image_size``)
``num_classes``    one pooled (mean over tokens) prediction of C classes;
                   without it the model predicts ``vocab_size`` logits per token
``causal``         causal attention (default: per-token output is causal)
``tie_embeddings`` logits = h @ embedding^T, no head bias (default false)
``ln_eps``         LayerNorm epsilon (default 1e-6); RMSNorm's with ``block: llama``
``block``          ``gpt`` (default: LayerNorm, learned positions, GELU MLP,
                   biases) or ``llama`` (RMSNorm, rotary positions, SwiGLU
                   MLP, no biases, grouped-query attention with a per-layer
                   ``num_kv_heads``; Touvron et al., 2023)
``rope_theta``     with ``block: llama``: the rotary base (default 10000)
``rope_scaling``   with ``block: llama``: null, ``{type: linear, factor}`` or
                   ``{type: llama3, factor, low_freq_factor, high_freq_factor,
                   original_max_position_embeddings}``
``max_positions``  with ``block: llama``: the ``max_position_embeddings`` a
                   Hugging Face export writes (default ``seq_len``; a space
                   made from a checkpoint keeps the checkpoint's own)
``pad_id``         with ``vocab_size`` and ``num_classes``: the id that pads a
                   text to ``seq_len`` (default 0); attention and pooling
                   ignore it
=================  =========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from search_spaces import mixers
from search_spaces.errors import NasError

if TYPE_CHECKING:
    from search_spaces.space import SearchSpace


class TaskGeometry(NamedTuple):
    """Static input/output facts of a space's model (hashable)."""

    tokens: int  # positions the model holds (patches, or the context length)
    lookup: bool  # token ids -> embedding table (True); dense patch projection (False)
    in_dim: int  # vocabulary (lookup) or pixels per patch
    out_dim: int  # classes (pooled) or vocabulary (per token)
    pooled: bool  # mean over tokens, one prediction per example
    causal: bool
    head_dim: int
    tied_head: bool
    ln_eps: float
    image_hw: tuple[int, int]  # (0, 0) for token inputs
    patch_size: int
    channels: int
    pad_id: int = 0  # padding id of a pooled token-id input (ignored by attention and pooling)
    block: str = "gpt"  # "gpt" (LayerNorm, learned positions, GELU) or "llama" (RMSNorm, RoPE, SwiGLU, GQA)
    rope_theta: float = 10000.0
    rope_scaling: tuple = ()  # sorted (key, value) pairs of task.rope_scaling; () = none

    @property
    def llama(self) -> bool:
        return self.block == "llama"


def _int(task: Mapping[str, Any], key: str, where: str) -> int:
    v = task.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise NasError(f"{where}: field 'task.{key}' must be an integer >= 1, got {v!r}")
    return v


def geometry_of_task(task: Mapping[str, Any], *, where: str = "space") -> TaskGeometry:
    """The :class:`TaskGeometry` of a task block (see the module docstring for its keys)."""
    if not task:
        raise NasError(
            f"{where}: field 'task.kind' is missing: without a task block no model can be built or counted"
        )
    head_dim = _int(task, "head_dim", where)
    if "image_size" in task:
        size = task["image_size"]
        hw = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        if len(hw) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in hw):
            raise NasError(f"{where}: field 'task.image_size' must be an integer or [H, W], got {size!r}")
        p, c = _int(task, "patch_size", where), _int(task, "channels", where)
        if hw[0] % p or hw[1] % p:
            raise NasError(f"{where}: field 'task.patch_size' ({p}) must divide task.image_size {list(hw)}")
        tokens, lookup, in_dim = (hw[0] // p) * (hw[1] // p), False, p * p * c
    elif "vocab_size" in task:
        hw, p, c = (0, 0), 0, 0
        tokens, lookup, in_dim = _int(task, "seq_len", where), True, _int(task, "vocab_size", where)
    else:
        raise NasError(
            f"{where}: the task block needs 'vocab_size' + 'seq_len' or 'image_size' + 'patch_size'"
        )
    pooled = "num_classes" in task
    out_dim = _int(task, "num_classes", where) if pooled else in_dim
    if not pooled and not lookup:
        raise NasError(f"{where}: an image task needs 'task.num_classes'")
    tied = bool(task.get("tie_embeddings", False))
    if tied and (pooled or not lookup):
        raise NasError(f"{where}: field 'task.tie_embeddings' needs a per-token output over 'vocab_size'")
    eps = task.get("ln_eps", 1e-6)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise NasError(f"{where}: field 'task.ln_eps' must be a number in (0, 1), got {eps!r}")
    pad_id = task.get("pad_id", 0)
    if "pad_id" in task and (
        isinstance(pad_id, bool) or not isinstance(pad_id, int) or not (lookup and 0 <= pad_id < in_dim)
    ):
        raise NasError(f"{where}: field 'task.pad_id' must be a token id in [0, vocab_size), got {pad_id!r}")
    block, theta, scaling = _block_of(task, where, lookup=lookup, pooled=pooled)
    return TaskGeometry(
        tokens=tokens,
        lookup=lookup,
        in_dim=in_dim,
        out_dim=out_dim,
        pooled=pooled,
        causal=bool(task.get("causal", not pooled)),
        head_dim=head_dim,
        tied_head=tied,
        ln_eps=float(eps),
        image_hw=(int(hw[0]), int(hw[1])),
        patch_size=p,
        channels=c,
        pad_id=int(pad_id) if lookup else 0,
        block=block,
        rope_theta=theta,
        rope_scaling=scaling,
    )


ROPE_SCALINGS = {
    "linear": ("factor",),
    "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
}


def _block_of(task: Mapping[str, Any], where: str, *, lookup: bool, pooled: bool) -> tuple[str, float, tuple]:
    """(block, rope_theta, rope_scaling pairs) of a task block; a one-line error naming a bad field."""
    block = task.get("block", "gpt")
    if block not in ("gpt", "llama"):
        raise NasError(f"{where}: field 'task.block' is {block!r}; choose 'gpt' or 'llama'")
    if block == "gpt":
        for key in ("rope_theta", "rope_scaling"):
            if key in task:
                raise NasError(f"{where}: field 'task.{key}' needs 'task.block: llama'")
        return block, 10000.0, ()
    if not lookup or pooled:
        raise NasError(f"{where}: field 'task.block': 'llama' is a causal LM over token ids (no num_classes)")
    theta = task.get("rope_theta", 10000.0)
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not theta > 1:
        raise NasError(f"{where}: field 'task.rope_theta' must be a number > 1, got {theta!r}")
    return block, float(theta), rope_scaling_pairs(task.get("rope_scaling"), where=where)


def rope_scaling_pairs(scaling: Any, *, where: str) -> tuple:
    """A ``rope_scaling`` mapping checked and frozen as sorted pairs; () for none."""
    if scaling is None:
        return ()
    if not isinstance(scaling, Mapping):
        raise NasError(f"{where}: field 'task.rope_scaling' must be a mapping or null, got {scaling!r}")
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind in (None, "default"):
        return ()
    if kind not in ROPE_SCALINGS:
        raise NasError(
            f"{where}: field 'task.rope_scaling' has type {kind!r}, which is not implemented; "
            f"implemented: {sorted(ROPE_SCALINGS)}"
        )
    out = [("type", kind)]
    for key in ROPE_SCALINGS[kind]:
        v = scaling.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise NasError(f"{where}: field 'task.rope_scaling.{key}' must be a number > 0, got {v!r}")
        out.append((key, float(v)))
    return tuple(sorted(out))


def check_grouping(space: SearchSpace) -> None:
    """Every query-head choice must be a multiple of every KV-head choice (grouped-query attention)."""

    def choices(name: str) -> list[int]:
        return list(space.layer_dims.get(name, space.global_dims.get(name, ())))

    for h in choices("num_heads"):
        for kv in choices("num_kv_heads"):
            if h % kv:
                raise NasError(
                    f"space '{space.name}': num_heads choice {h} is not a multiple of num_kv_heads choice {kv} "
                    "(grouped-query attention shares each KV head among a whole group of query heads)"
                )


def task_geometry(space: SearchSpace) -> TaskGeometry:
    """The geometry of ``space.task``; a one-line error naming the missing field otherwise."""
    geo = geometry_of_task(space.task, where=f"space '{space.name}'")
    if "stages" in space.task:  # a staged space: its stages hold the widths (search_spaces.stages)
        return geo
    for dim in ("embed_dim", "num_heads"):
        if dim not in space.global_dims and dim not in space.layer_dims:
            raise NasError(f"space '{space.name}': complexity needs a dimension named '{dim}'")
    if "num_kv_heads" in space.global_dims or "num_kv_heads" in space.layer_dims:
        if not geo.llama:
            raise NasError(f"space '{space.name}': dimension 'num_kv_heads' needs 'task.block: llama'")
        check_grouping(space)
    if not {"mlp_dim", "mlp_ratio"} & {*space.layer_dims, *space.global_dims}:
        raise NasError(f"space '{space.name}': complexity needs a per-layer 'mlp_dim' or 'mlp_ratio'")
    check_layer_ops(space, causal=geo.causal, llama=geo.llama)
    return geo


MAX_FFN = 3


def check_layer_ops(space: SearchSpace, *, causal: bool, llama: bool) -> None:
    """What a layer computes: known mixers with usable options, causal ones in a causal space,
    only the default mixer in a Llama block, ``num_ffn`` choices 1..MAX_FFN."""
    mixers.check_space(space, causal=causal)
    if llama and {c.key for c in mixers.choices_of(space)} != {mixers.default().key}:
        dim = mixers.mixer_dim(space)
        raise NasError(
            f"space '{space.name}': field '{dim}': a Llama block has only the {mixers.default().key!r} mixer"
        )
    _check_num_ffn(space, llama=llama)


def _check_num_ffn(space: SearchSpace, *, llama: bool) -> None:
    """``num_ffn`` (stacked FFN hidden layers, FlexiBERT's "FFN layers") choices are 1..MAX_FFN."""
    where = "layer" if "num_ffn" in space.layer_dims else "global"
    for c in space.layer_dims.get("num_ffn", space.global_dims.get("num_ffn", ())):
        if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= MAX_FFN:
            raise NasError(
                f"space '{space.name}': field '{where}.num_ffn' has choice {c!r}; choose integers 1 to {MAX_FFN}"
            )
        if llama and c != 1:
            raise NasError(
                f"space '{space.name}': field '{where}.num_ffn': a Llama block has one FFN layer, got {c!r}"
            )
