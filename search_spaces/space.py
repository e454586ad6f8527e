"""SearchSpace: a declared set of architectures and the operations on it.

A space has global dimensions (one value per model, e.g. ``embed_dim``, and the
special ``depth``) and per-layer dimensions (one value per active layer, e.g.
``num_heads``).  Every dimension has a finite list of choices (ints, floats,
strings or booleans).  Spaces come from YAML (:func:`search_spaces.load_space`)
or from Python::

    space = SearchSpace(
        name="mine", max_depth=4,
        global_dims={"embed_dim": [64, 128], "depth": [2, 3, 4], "bias": [True, False]},
        layer_dims={"num_heads": [2, 4]},
    )

The supernet can only build spaces of a known ``task``; any other space can
still be sampled, mutated, encoded and searched with a user evaluator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from search_spaces import operators
from search_spaces.arch import ArchConfig, Value
from search_spaces.errors import InvalidArchError, SpaceError
from search_spaces.structure import Dimension

__all__ = ["WIDTH_DIMENSIONS", "Dimension", "SearchSpace"]


def _loads(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidArchError("json", text[:60], reason=f"not valid JSON ({e.msg})") from None


# dimensions the supernet and the complexity model read as widths or counts
WIDTH_DIMENSIONS = ("embed_dim", "num_heads", "mlp_dim", "head_dim")


@dataclass(frozen=True)
class SearchSpace:
    """A finite space of architectures.

    Args:
      name: identifier of the space.
      max_depth: number of per-layer slots.  If ``depth`` is not among the global
        dims, every architecture uses all ``max_depth`` layers.
      global_dims: name -> choices, one value per model (``depth`` included).
      layer_dims: name -> choices, one value per active layer.
      task: free-form settings of the task the supernet trains on (``kind``,
        ``seq_len``, ``head_dim`` ...); empty for user spaces.
      description: one line for listings.
    """

    name: str
    max_depth: int
    global_dims: Mapping[str, Sequence[Value]] = field(default_factory=dict)
    layer_dims: Mapping[str, Sequence[Value]] = field(default_factory=dict)
    task: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int):
            raise SpaceError(f"field 'max_depth': expected an integer, got {self.max_depth!r}")
        if self.max_depth < 0:
            raise SpaceError(f"field 'max_depth': must be >= 0, got {self.max_depth!r}")
        stages = _stages_of(self)  # a staged space: stages generate its global dims (search_spaces.stages)
        gdims = tuple(Dimension(k, v) for k, v in dict(self.global_dims).items())
        ldims = tuple(Dimension(k, v, per_layer=True) for k, v in dict(self.layer_dims).items())
        names = [d.name for d in gdims + ldims]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SpaceError(f"dimension '{dup[0]}' is declared both globally and per layer")
        if any(d.name == "depth" for d in ldims):
            raise SpaceError("dimension 'depth' must be global, not per layer")
        for d in gdims:
            if d.name == "depth":
                for c in d.choices:
                    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= self.max_depth:
                        raise SpaceError(
                            f"dimension 'depth': choice {c!r} must be an integer in "
                            f"[0, max_depth={self.max_depth}]"
                        )
        for d in gdims + ldims:
            if d.name in WIDTH_DIMENSIONS:
                for c in d.choices:
                    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                        raise SpaceError(
                            f"field '{'layer' if d.per_layer else 'global'}.{d.name}': choice {c!r} "
                            "must be a positive integer (a width or a count)"
                        )
        object.__setattr__(self, "_gdims", tuple(d for d in gdims if d.name != "depth"))
        object.__setattr__(self, "_ldims", ldims)
        depth = next((d for d in gdims if d.name == "depth"), None)
        depth_choices = tuple(sorted(depth.choices)) if depth else (self.max_depth,)
        object.__setattr__(self, "_depths", depth_choices)
        object.__setattr__(self, "global_dims", {d.name: d.choices for d in gdims})
        object.__setattr__(self, "layer_dims", {d.name: d.choices for d in ldims})
        object.__setattr__(self, "task", dict(self.task))
        object.__setattr__(self, "_stages", stages)
        object.__setattr__(self, "_known", frozenset(d.name for d in self.dimensions()))

    def __hash__(self) -> int:
        return hash((self.name, self.max_depth, tuple(self.dimensions())))

    # ---- structure ----------------------------------------------------------
    @property
    def depth_choices(self) -> tuple[int, ...]:
        return self._depths  # type: ignore[attr-defined]

    @property
    def global_dimensions(self) -> tuple[Dimension, ...]:
        """Global dims other than depth."""
        return self._gdims  # type: ignore[attr-defined]

    @property
    def layer_dimensions(self) -> tuple[Dimension, ...]:
        return self._ldims  # type: ignore[attr-defined]

    def dimensions(self) -> list[Dimension]:
        """All dims, depth first (as a global Dimension), then globals, then per-layer."""
        return [Dimension("depth", self.depth_choices)] + list(self._gdims) + list(self._ldims)  # type: ignore[attr-defined]

    def dimension(self, name: str) -> Dimension:
        for d in self.dimensions():
            if d.name == name:
                return d
        raise SpaceError(f"space '{self.name}' has no dimension {name!r}")

    def size(self) -> int:
        """Exact number of distinct architectures (a Python int, may be huge)."""
        if self.stages:  # inactive layer slots do not make distinct networks
            from search_spaces.stages import stage_dims, stages_size

            own = stage_dims(self.stages)
            rest = math.prod(len(d.choices) for d in self.global_dimensions if d.name not in own)
            return rest * stages_size(self.stages)
        g = math.prod(len(d.choices) for d in self.global_dimensions)
        per_layer = math.prod(len(d.choices) for d in self.layer_dimensions)
        return g * sum(per_layer**d for d in self.depth_choices)

    @property
    def stages(self) -> tuple:
        """The declared stages (:class:`search_spaces.stages.Stage`), or () for a flat space."""
        return self._stages  # type: ignore[attr-defined]

    def canonical(self, arch: ArchConfig) -> ArchConfig:
        """``arch`` with a staged space's inactive layer slots at their smallest choice (else ``arch``)."""
        if not self.stages:
            return arch
        from search_spaces.stages import canonical

        return canonical(self.stages, arch)

    # ---- membership ---------------------------------------------------------
    def validate(self, arch: ArchConfig) -> ArchConfig:
        """Returns ``arch`` if it is in the space, else raises InvalidArchError."""
        if not isinstance(arch, ArchConfig):
            raise InvalidArchError("arch", type(arch).__name__, reason="expected an ArchConfig")
        if arch.depth not in self.depth_choices:
            raise InvalidArchError("depth", arch.depth, self.depth_choices)
        known = self._known  # type: ignore[attr-defined]
        for name in arch.names():
            if name not in known:
                raise InvalidArchError(
                    name, arch[name], reason=f"unknown dimension; space '{self.name}' has {sorted(known)}"
                )
        for d in self.global_dimensions:
            if d.name not in arch:
                raise InvalidArchError(d.name, None, d.choices, reason="missing")
            v = arch[d.name]
            if isinstance(v, tuple):
                raise InvalidArchError(d.name, list(v), d.choices, reason="is global: expected one value")
            if d.index(v) < 0:
                raise InvalidArchError(d.name, v, d.choices)
        for d in self.layer_dimensions:
            if d.name not in arch:
                raise InvalidArchError(d.name, None, d.choices, reason="missing")
            seq = arch[d.name]
            if not isinstance(seq, tuple):
                raise InvalidArchError(d.name, seq, d.choices, reason="is per layer: expected a list")
            for i, v in enumerate(seq):
                if d.index(v) < 0:
                    raise InvalidArchError(f"{d.name}[{i}]", v, d.choices)
        return arch

    def contains(self, arch: ArchConfig) -> bool:
        try:
            self.validate(arch)
        except InvalidArchError:
            return False
        return True

    def parse(self, obj: Mapping[str, Any] | str) -> ArchConfig:
        """An ArchConfig from a dict or JSON text, validated against this space."""
        if isinstance(obj, str):
            obj = _loads(obj)
        if isinstance(obj, Mapping) and "depth" in obj and obj["depth"] not in self.depth_choices:
            raise InvalidArchError("depth", obj["depth"], self.depth_choices)
        return self.validate(ArchConfig.from_dict(obj))

    # ---- operations (see search_spaces.operators) -----------------------------
    def sample(self, rng: np.random.Generator | int) -> ArchConfig:
        """One architecture drawn uniformly per dimension (depth uniform too)."""
        return operators.sample(self, rng)

    def sample_many(self, rng: np.random.Generator | int, n: int) -> list[ArchConfig]:
        rng = np.random.default_rng(rng)
        return [operators.sample(self, rng) for _ in range(n)]

    def mutate(self, arch: ArchConfig, rng: np.random.Generator | int, *, prob: float = 0.3) -> ArchConfig:
        """Resamples each dimension (each layer slot separately) with probability ``prob``."""
        return operators.mutate(self, arch, rng, prob=prob)

    def crossover(self, a: ArchConfig, b: ArchConfig, rng: np.random.Generator | int) -> ArchConfig:
        """Uniform crossover: each dimension / layer slot from one parent at random."""
        return operators.crossover(self, a, b, rng)

    def smallest(self) -> ArchConfig:
        return operators.extreme(self, largest=False)

    def largest(self) -> ArchConfig:
        return operators.extreme(self, largest=True)

    def encode(self, archs: ArchConfig | Sequence[ArchConfig]) -> np.ndarray:
        """Fixed-length float encoding, shape (n, encoding_size); see search_spaces.encoding."""
        from search_spaces.encoding import encode

        return encode(self, archs)

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON declaration of this space (inverse of ``space_from_dict``)."""
        out: dict[str, Any] = {"name": self.name, "max_depth": self.max_depth}
        if self.description:
            out["description"] = self.description
        g = {"depth": list(self.depth_choices)} if "depth" in self.global_dims else {}
        generated = set(_generated(self.stages))
        g.update({d.name: list(d.choices) for d in self.global_dimensions if d.name not in generated})
        out["global"] = g
        out["layer"] = {d.name: list(d.choices) for d in self.layer_dimensions}
        if self.task:
            out["task"] = dict(self.task)
        return out


def _generated(stages: tuple) -> dict:
    if not stages:
        return {}
    from search_spaces.stages import stage_dims

    return stage_dims(stages)


def _stages_of(space: SearchSpace) -> tuple:
    """Parses ``task.stages`` and merges the dims they generate into ``space.global_dims``."""
    from search_spaces.stages import check_space, has_stages, parse_stages

    if not has_stages(space.task):
        return ()
    stages = parse_stages(space.task, where=f"space '{space.name}'")
    check_space(stages, name=space.name, max_depth=space.max_depth, layer_dims=space.layer_dims)
    merged = dict(space.global_dims)
    for name, choices in _generated(stages).items():
        if name in merged and list(merged[name]) != choices:
            raise SpaceError(
                f"space '{space.name}': field 'global.{name}' {list(merged[name])!r} contradicts the stages' {choices!r}"
            )
        merged[name] = choices
    object.__setattr__(space, "global_dims", merged)
    return stages
