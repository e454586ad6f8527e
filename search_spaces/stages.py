"""Multi-stage vision spaces: an ordered list of stages, each with its own elastic choices.

A staged space declares its stages in its task block (``task.stages``), next to the image
geometry they depend on::

    task:
      kind: vit
      image_size: 28
      patch_size: 2          # a 14x14 token grid enters stage 0
      channels: 1
      num_classes: 10
      head_dim: 8
      stages:
        - {block: mbconv, depth: [1, 2], embed_dim: [16, 24], kernel_size: [3, 5],
           expand_ratio: [2, 4], reduction: strided_conv}
        - {block: transformer, depth: [1, 2], embed_dim: [32, 48], num_heads: [2, 4],
           mlp_dim: [64, 96], window: 7, reduction: residual_spatial_reduction}
        - {block: transformer, depth: [1, 2], embed_dim: [48, 64], num_heads: [2, 4],
           mlp_dim: [96, 128]}

Stage fields: ``block`` (``transformer``, or ``mbconv``: the inverted-residual block of
MobileNetV2, Sandler et al., CVPR 2018, with an elastic kernel of 3, 5 or 7 and an elastic
expansion ratio as in Once-for-All and ElasticViT, Tang et al., ICCV 2023); the choices
``depth``, ``embed_dim`` and per layer ``num_heads``/``mlp_dim`` and, optionally, ``mixer``
(transformer: the layer's token mixer, :mod:`search_spaces.mixers`; ``sdp`` when absent) or
``kernel_size``/``expand_ratio`` (mbconv); ``window`` (transformer: attention inside
non-overlapping ``window x window`` mask units, TurboViT, Wong et al., 2023; 0 or absent =
global attention); and ``reduction`` into the next stage (every stage but the last), which
halves the token grid: ``residual_spatial_reduction`` (ViT-ResNAS, Liao et al., 2021: a
LayerNorm + 2x2 strided convolution, plus a 2x2 average-pooled shortcut zero-padded to the
new width, so the width must not shrink), ``q_pooling`` (MViT, Fan et al., ICCV 2021, and
TurboViT: attention whose queries are 2x2-pooled, plus a pooled, projected shortcut) or
``strided_conv`` (LayerNorm + 2x2 strided convolution).

**How an ArchConfig names the choices.**  A staged space is a space of *global* dimensions
only (``max_depth: 0``, so ``arch.depth`` is 0): the stages generate
``s<i>_depth``, ``s<i>_embed_dim`` and, for every layer slot ``j`` of stage ``i``,
``s<i>_num_heads_<j>``, ``s<i>_mlp_dim_<j>`` and ``s<i>_mixer_<j>`` (transformer) or ``s<i>_kernel_size_<j>`` and
``s<i>_expand_ratio_<j>`` (mbconv).  So an ArchConfig stays a frozen, hashable set of scalars
with the exact JSON round trip, and sampling, mutation, crossover, encodings and every
strategy work unchanged.  Slots at or beyond a stage's depth are inactive: the operators set
them to the smallest choice (:func:`canonical`), so one network has one ArchConfig.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from search_spaces.arch import ArchConfig
from search_spaces.errors import NasError, SpaceError

BLOCKS = ("transformer", "mbconv")
REDUCTIONS = ("residual_spatial_reduction", "q_pooling", "strided_conv")
KERNELS = (3, 5, 7)  # the depthwise kernels the MBConv block implements (centre slices of 7x7)
_LAYER_FIELDS = {"transformer": ("num_heads", "mlp_dim"), "mbconv": ("kernel_size", "expand_ratio")}
_OPTIONAL = {"transformer": ("mixer",), "mbconv": ()}  # per-layer fields a stage may leave out
_FIELDS = {"block", "depth", "embed_dim", "num_heads", "mlp_dim", "kernel_size", "expand_ratio", "mixer"}
_FIELDS |= {"window", "reduction"}


class Stage(NamedTuple):
    """One declared stage (hashable): its block kind, choices and static structure."""

    block: str
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    layer_choices: tuple[tuple[str, tuple], ...]  # (field, choices) of the per-layer fields
    window: int  # 0: global attention
    reduction: str  # into the next stage; "" for the last stage
    grid: tuple[int, int]  # token grid (rows, columns) of this stage

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    def choices(self, field: str) -> tuple:
        return dict(self.layer_choices)[field]


class StageArch(NamedTuple):
    """One stage of one architecture: the active depth, width and per-layer values."""

    depth: int
    width: int
    layers: tuple[tuple[str, tuple], ...]  # (field, values of the active layers)

    def get(self, field: str) -> tuple:
        return dict(self.layers)[field]


def has_stages(task: Mapping[str, Any]) -> bool:
    return bool(task) and "stages" in task


def _ints(where: str, field: str, value: Any, *, low: int = 1) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise SpaceError(f"{where} field '{field}': expected a non-empty list of choices, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise SpaceError(f"{where} field '{field}': choice {v!r} must be an integer >= {low}")
    if len(set(value)) != len(value):
        raise SpaceError(f"{where} field '{field}': choices {value!r} repeat a value")
    return tuple(value)


def parse_stages(task: Mapping[str, Any], *, where: str = "space") -> tuple[Stage, ...]:
    """The checked stages of a task block; a one-line SpaceError naming the stage and field."""
    stages = task.get("stages")
    if not isinstance(stages, list) or not stages:
        raise SpaceError(f"{where}: field 'task.stages' must be a non-empty list of stages, got {stages!r}")
    if "image_size" not in task:
        raise SpaceError(
            f"{where}: field 'task.stages': stages need a 2-D token grid (an image task with "
            f"'image_size'); task kind {task.get('kind')!r} has none"
        )
    grid, head_dim = _grid(task, where)
    out: list[Stage] = []
    for i, st in enumerate(stages):
        w = f"{where}: stage {i}"
        if not isinstance(st, Mapping):
            raise SpaceError(f"{w}: expected a mapping of stage fields, got {st!r}")
        unknown = sorted(set(st) - _FIELDS)
        if unknown:
            raise SpaceError(f"{w}: unknown field {unknown[0]!r}; stage fields are {sorted(_FIELDS)}")
        block = st.get("block")
        if block not in BLOCKS:
            raise SpaceError(f"{w} field 'block' is {block!r}; choose one of {list(BLOCKS)}")
        for field in ("depth", "embed_dim"):
            if field not in st:
                raise SpaceError(f"{w} field '{field}' is missing")
        depths = _ints(w, "depth", st["depth"])
        widths = _ints(w, "embed_dim", st["embed_dim"])
        layer = []
        for field in _LAYER_FIELDS[block]:
            if field not in st:
                raise SpaceError(f"{w} field '{field}' is missing (a {block} stage needs it)")
            if field == "expand_ratio":
                v = st[field]
                if (
                    not isinstance(v, list)
                    or not v
                    or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in v)
                ):
                    raise SpaceError(f"{w} field 'expand_ratio': expected a list of numbers > 0, got {v!r}")
                layer.append((field, tuple(v)))
                continue
            vals = _ints(w, field, st[field])
            if field == "kernel_size":
                bad = [k for k in vals if k not in KERNELS]
                if bad:
                    raise SpaceError(
                        f"{w} field 'kernel_size': kernel {bad[0]} is not implemented; choose from {list(KERNELS)}"
                    )
            layer.append((field, vals))
        if "mixer" in st and block == "transformer":
            layer.append(("mixer", _mixers(w, st["mixer"], widths, dict(layer)["num_heads"])))
        per_layer = {f for fs in [*_LAYER_FIELDS.values(), *_OPTIONAL.values()] for f in fs}
        other = sorted(set(st) & per_layer - {*_LAYER_FIELDS[block], *_OPTIONAL[block]})
        if other:
            raise SpaceError(f"{w} field '{other[0]}' does not apply to a {block} stage")
        window = st.get("window", 0) or 0
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise SpaceError(f"{w} field 'window': expected an integer >= 0, got {window!r}")
        if window and block != "transformer":
            raise SpaceError(f"{w} field 'window': only a transformer stage attends in windows")
        if window and (window > min(grid) or grid[0] % window or grid[1] % window):
            raise SpaceError(
                f"{w} field 'window': {window} does not tile the stage's {grid[0]}x{grid[1]} token grid"
            )
        last = i == len(stages) - 1
        reduction = st.get("reduction", "")
        if last and reduction:
            raise SpaceError(f"{w} field 'reduction': the last stage has no next stage to reduce into")
        if not last and reduction not in REDUCTIONS:
            raise SpaceError(f"{w} field 'reduction' is {reduction!r}; choose one of {list(REDUCTIONS)}")
        if not last and (grid[0] % 2 or grid[1] % 2):
            raise SpaceError(
                f"{w} field 'reduction': the stage's {grid[0]}x{grid[1]} token grid has an odd side "
                "and cannot be halved"
            )
        out.append(Stage(block, depths, widths, tuple(layer), window, reduction, grid))
        if not last:
            grid = (grid[0] // 2, grid[1] // 2)
    _check_transitions(out, where, head_dim=head_dim)
    return tuple(out)


def _mixers(where: str, value: Any, widths: tuple[int, ...], heads: tuple[int, ...]) -> tuple[str, ...]:
    """A transformer stage's per-layer mixer choices (:mod:`search_spaces.mixers`), checked
    against the stage: known, usable option, and widths the mixer can split into its heads
    (an image stage is never causal)."""
    from search_spaces import mixers

    if not isinstance(value, list) or not value:
        raise SpaceError(f"{where} field 'mixer': expected a non-empty list of mixers, got {value!r}")
    keys = []
    for raw in value:
        try:
            c = mixers.get(raw, field="mixer")
        except NasError as e:
            raise SpaceError(f"{where} {e}") from None
        reason = c.spec.check_widths(list(widths), list(heads))
        if reason:
            raise SpaceError(f"{where} field 'mixer': mixer {raw!r}: {reason}")
        keys.append(c.key)
    if len(set(keys)) != len(keys):
        raise SpaceError(f"{where} field 'mixer': choices {value!r} repeat a mixer")
    return tuple(value)


def _grid(task: Mapping[str, Any], where: str) -> tuple[tuple[int, int], int]:
    """(token grid of stage 0, head width) of an image task block (search_spaces.geometry checks
    the rest of the block; this module does not import it, which imports the space)."""
    size, p, hd = task.get("image_size"), task.get("patch_size"), task.get("head_dim")
    hw = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    for field, v in (("image_size", hw[0]), ("image_size", hw[-1]), ("patch_size", p), ("head_dim", hd)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpaceError(
                f"{where}: field 'task.{field}' must be an integer >= 1, got {task.get(field)!r}"
            )
    if len(hw) != 2 or hw[0] % p or hw[1] % p:
        raise SpaceError(f"{where}: field 'task.patch_size' ({p}) must divide task.image_size {list(hw)}")
    return (hw[0] // p, hw[1] // p), hd


def _check_transitions(stages: list[Stage], where: str, *, head_dim: int) -> None:
    for i, st in enumerate(stages):
        if not st.reduction:
            continue
        nxt = stages[i + 1]
        if st.reduction == "residual_spatial_reduction" and min(nxt.widths) < max(st.widths):
            raise SpaceError(
                f"{where}: stage {i + 1} field 'embed_dim': choice {min(nxt.widths)} is narrower than stage "
                f"{i}'s {max(st.widths)}; residual_spatial_reduction's zero-padded shortcut needs the width to grow"
            )
        if st.reduction == "q_pooling":
            bad = [e for e in nxt.widths if e % head_dim]
            if bad:
                raise SpaceError(
                    f"{where}: stage {i + 1} field 'embed_dim': choice {bad[0]} is not a multiple of "
                    f"task.head_dim ({head_dim}), which q_pooling's attention needs"
                )


# ---- the generated dimensions and their reading ----------------------------------------------


def stage_dims(stages: tuple[Stage, ...]) -> dict[str, list]:
    """The global dimensions a list of stages generates (see the module docstring)."""
    out: dict[str, list] = {}
    for i, st in enumerate(stages):
        out[f"s{i}_depth"] = list(st.depths)
        out[f"s{i}_embed_dim"] = list(st.widths)
        for j in range(st.max_depth):
            for field, choices in st.layer_choices:
                out[f"s{i}_{field}_{j}"] = list(choices)
    return out


def resolve(stages: tuple[Stage, ...], arch: ArchConfig) -> tuple[StageArch, ...]:
    """Each stage's active depth, width and per-layer values in ``arch``."""
    out = []
    for i, st in enumerate(stages):
        d = int(arch[f"s{i}_depth"])
        layers = tuple(
            (field, tuple(arch[f"s{i}_{field}_{j}"] for j in range(d))) for field, _ in st.layer_choices
        )
        out.append(StageArch(d, int(arch[f"s{i}_embed_dim"]), layers))
    return tuple(out)


def canonical(stages: tuple[Stage, ...], arch: ArchConfig) -> ArchConfig:
    """``arch`` with every inactive slot (at or beyond its stage's depth) at its smallest choice."""
    values = dict(arch.values)
    for i, st in enumerate(stages):
        d = values.get(f"s{i}_depth")
        if not isinstance(d, int):
            return arch
        for j in range(d, st.max_depth):
            for field, choices in st.layer_choices:
                values[f"s{i}_{field}_{j}"] = min(choices)
    return ArchConfig(depth=arch.depth, values=tuple(values.items()), layers=arch.layers)


def stages_size(stages: tuple[Stage, ...]) -> int:
    """Distinct stage configurations: per stage, widths times the layer choices of each depth."""
    import math

    out = 1
    for st in stages:
        per_layer = math.prod(len(c) for _, c in st.layer_choices)
        out *= len(st.widths) * sum(per_layer**d for d in st.depths)
    return out


def hidden_width(width: int, ratio: float) -> int:
    """MBConv's expanded width: ``floor(width * ratio)``."""
    return int(width * float(ratio) + 1e-9)


def check_space(stages: tuple[Stage, ...], *, name: str, max_depth: int, layer_dims: Mapping) -> None:
    """A staged space holds no flat layer slots; one line naming the field otherwise."""
    if max_depth != 0:
        raise SpaceError(
            f"space '{name}': field 'max_depth' must be 0 in a staged space (stages hold the layers)"
        )
    if layer_dims:
        raise SpaceError(
            f"space '{name}': field 'layer.{next(iter(layer_dims))}': a staged space declares per-layer "
            "choices inside its stages"
        )
