"""The supernet's geometry: the static, hashable facts of a space it is built from.

:class:`Geometry` (the task's geometry plus the width, head, MLP, mixer and FFN choices and
the branch tables they give) and :func:`geometry`, which checks that the supernet implements
every dimension of a space.  :mod:`supernet.model` re-exports both.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from search_spaces import SearchSpace
from search_spaces import mixers as specs
from search_spaces.errors import NasError
from search_spaces.geometry import TaskGeometry, task_geometry
from supernet import mixers

# the layer weights each Llama sub-block reads (supernet.llama), attention then MLP
LLAMA_SUB_KEYS = (("ln1", "q", "k", "v", "o"), ("ln2", "gate", "up", "down"))

IMPLEMENTED = (
    "embed_dim",
    "depth",
    "num_heads",
    "num_kv_heads",
    "mlp_dim",
    "mlp_ratio",
    "num_ffn",
    *specs.DIMS,
)


class Geometry(NamedTuple):
    """Static facts of a space that the supernet is built from (hashable)."""

    task: TaskGeometry  # input, output, context, head width, norms (search_spaces.geometry)
    max_depth: int
    embed_choices: tuple[int, ...]
    head_choices: tuple[int, ...]
    mlp_choices: tuple[int, ...]  # widths (mlp_dim), or () when the space searches mlp_ratio
    mlp_ratios: tuple[float, ...]  # ratios of embed_dim (mlp_ratio), or ()
    attn_choices: tuple[str, ...]  # the mixer choices' canonical keys (search_spaces.mixers.Choice.key)
    kv_choices: tuple[int, ...] = ()  # KV heads (task.block llama); () = as many as query heads
    ffn_choices: tuple[int, ...] = (1,)  # stacked FFN hidden layers (num_ffn)

    @property
    def head_dim(self) -> int:
        return self.task.head_dim

    @property
    def tokens(self) -> int:
        return self.task.tokens

    @property
    def out_dim(self) -> int:
        return self.task.out_dim

    @property
    def in_dim(self) -> int:
        return self.task.in_dim

    @property
    def ln_eps(self) -> float:
        return self.task.ln_eps

    @property
    def tied(self) -> bool:
        return self.task.tied_head

    @property
    def is_causal_lm(self) -> bool:
        """Token ids in, next-token logits out, causal attention (GPT-2's function)."""
        return self.task.lookup and not self.task.pooled and self.task.causal

    @property
    def attn_branches(self) -> tuple[tuple[int, Any], ...]:
        """(heads, mixer key) of mixer codes 1, 2, ... (Llama: (query heads, KV heads)); 0 skips.
        A mixer whose weights do not depend on the heads has one branch, heads 0."""
        if self.task.llama:
            return tuple((h, k) for h in self.head_choices for k in self.kv_choices or (h,) if h % k == 0)
        out: list[tuple[int, str]] = []
        for h in self.head_choices:
            for a in self.attn_choices:
                b = (h if specs.get(a).spec.uses_heads else 0, a)
                if b not in out:
                    out.append(b)
        return tuple(out)

    def mlp_widths(self, E: int) -> tuple[int, ...]:
        """MLP widths at embedding width E."""
        return self.mlp_choices or tuple(int(r * E + 1e-9) for r in self.mlp_ratios)

    def mlp_branches(self, E: int) -> tuple[tuple[int, int], ...]:
        """(MLP width, stacked hidden layers) of MLP codes 1, 2, ... at embedding width E."""
        return tuple((m, n) for m in self.mlp_widths(E) for n in self.ffn_choices)

    @property
    def mixer_keys(self) -> tuple[str, ...]:
        """The names of the layer weights the mixers of the space read (their union)."""
        if self.task.llama:
            return LLAMA_SUB_KEYS[0][1:]
        keys: list[str] = []
        for a in self.attn_choices:
            keys += [k for k in mixers.ops(specs.get(a)).keys if k not in keys]
        return tuple(keys)

    @property
    def sub_keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The layer weights each sub-block reads (mixer, then MLP)."""
        if self.task.llama:
            return LLAMA_SUB_KEYS
        return ("ln1", *self.mixer_keys), (
            "ln2",
            "fc1",
            "fc2",
            *(("ffn",) if max(self.ffn_choices) > 1 else ()),
        )

    @property
    def max_mlp(self) -> int:
        return max(self.mlp_widths(max(self.embed_choices)))


def geometry(space: SearchSpace) -> Geometry:
    """The supernet geometry of a space; a one-line error naming what cannot be built.

    Every dimension must be one the supernet implements (:data:`IMPLEMENTED`)
    unless the space lists it in ``task.searched_only`` (searched by ``table`` or
    ``callable`` evaluators, ignored by the supernet).
    """
    if space.stages:  # a staged vision space (supernet.staged)
        from supernet import staged

        return staged.geometry(space, flat=Geometry)
    task = task_geometry(space)
    searched_only = space.task.get("searched_only") or []
    if not isinstance(searched_only, list) or not all(isinstance(d, str) for d in searched_only):
        raise NasError(f"space '{space.name}': field 'task.searched_only' must be a list of dimension names")
    for name in [*space.global_dims, *space.layer_dims]:
        if name not in IMPLEMENTED and name not in searched_only:
            raise NasError(
                f"space '{space.name}': the supernet does not implement dimension '{name}' "
                f"(it builds {list(IMPLEMENTED)}); list it in task.searched_only to search it without the supernet"
            )
    dims = {**space.global_dims, **space.layer_dims}  # per layer, or one value for all layers
    if "num_heads" not in dims:
        raise NasError(f"space '{space.name}': the supernet needs a dimension 'num_heads'")
    if "mlp_dim" not in dims and "mlp_ratio" not in dims:
        raise NasError(f"space '{space.name}': the supernet needs an 'mlp_dim' or 'mlp_ratio' dimension")
    if "embed_dim" not in space.global_dims:
        raise NasError(f"space '{space.name}': the supernet needs a global dimension 'embed_dim'")
    attn: list[str] = []  # task_geometry has checked the mixers (known, usable options, causal)
    for c in specs.choices_of(space):
        if c.key not in attn:
            attn.append(c.key)
    ffn = tuple(sorted(int(n) for n in dims.get("num_ffn", (1,))))
    kv = dims.get("num_kv_heads", ())
    ratios = tuple(sorted(float(r) for r in dims.get("mlp_ratio", ())))
    return Geometry(
        task=task,
        max_depth=space.max_depth,
        embed_choices=tuple(sorted(int(e) for e in space.global_dims["embed_dim"])),
        head_choices=tuple(sorted(int(h) for h in dims["num_heads"])),
        mlp_choices=tuple(sorted(int(m) for m in dims.get("mlp_dim", ()))),
        mlp_ratios=() if "mlp_dim" in dims else ratios,
        attn_choices=tuple(attn),
        kv_choices=tuple(sorted(int(k) for k in kv)),
        ffn_choices=ffn,
    )
