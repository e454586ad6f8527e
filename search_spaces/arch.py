"""ArchConfig: the one value that crosses package and process boundaries.

An architecture is a depth, a set of global choices (``embed_dim`` ...) and a
set of per-layer tuples (``num_heads``, ``mlp_dim``, ``attn_type`` ...).  It is a
frozen, hashable dataclass with an exact JSON round trip.  Every per-layer tuple
holds exactly ``depth`` values: fewer or more is an error naming the field and
its values (a silently dropped value would be a different architecture from the
one the user wrote; readers of other tools' formats cut explicitly, as
``nas/table.py`` does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Union

Value = Union[int, float, str, bool]


def _check_scalar(name: str, value: Any) -> Value:
    if isinstance(value, (bool, int, float, str)):
        return value
    from search_spaces.errors import InvalidArchError

    raise InvalidArchError(name, value, reason="expected an int, float, string or boolean")


@dataclass(frozen=True)
class ArchConfig:
    """A subnet architecture.

    Attributes:
      depth: number of active layers.
      values: global choices as sorted ``(name, value)`` pairs.
      layers: per-layer choices as sorted ``(name, tuple_of_values)`` pairs, each
        tuple holding exactly ``depth`` entries.
    """

    depth: int
    values: tuple[tuple[str, Value], ...] = ()
    layers: tuple[tuple[str, tuple[Value, ...]], ...] = ()

    def __post_init__(self) -> None:
        from search_spaces.errors import InvalidArchError

        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0:
            raise InvalidArchError("depth", self.depth, reason="expected a non-negative integer")
        values = tuple(sorted((str(k), _check_scalar(k, v)) for k, v in dict(self.values).items()))
        layers = []
        for name, seq in sorted(dict(self.layers).items()):
            if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
                raise InvalidArchError(name, seq, reason="expected a list with one value per layer")
            seq = tuple(_check_scalar(f"{name}[{i}]", v) for i, v in enumerate(seq))
            if len(seq) != self.depth:
                raise InvalidArchError(
                    name, list(seq), reason=f"has {len(seq)} values but depth is {self.depth}"
                )
            layers.append((str(name), seq))
        names = [k for k, _ in values] + [k for k, _ in layers]
        if "depth" in names or len(set(names)) != len(names):
            raise InvalidArchError("names", names, reason="dimension names must be unique")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "layers", tuple(layers))

    # ---- construction -------------------------------------------------------
    @classmethod
    def make(cls, *, depth: int, **dims: Any) -> ArchConfig:
        """Builds a config from keywords: lists/tuples are per-layer, scalars global."""
        values = {k: v for k, v in dims.items() if not isinstance(v, (list, tuple))}
        layers = {k: tuple(v) for k, v in dims.items() if isinstance(v, (list, tuple))}
        return cls(depth=depth, values=tuple(values.items()), layers=tuple(layers.items()))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArchConfig:
        """Inverse of :meth:`to_dict`."""
        from search_spaces.errors import InvalidArchError

        if not isinstance(d, Mapping):
            raise InvalidArchError("arch", d, reason="expected a JSON object")
        if "depth" not in d:
            raise InvalidArchError("depth", None, reason="missing")
        rest = {k: v for k, v in d.items() if k != "depth"}
        return cls.make(depth=d["depth"], **rest)

    @classmethod
    def from_json(cls, text: str) -> ArchConfig:
        from search_spaces.errors import InvalidArchError

        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidArchError("json", text[:60], reason=f"not valid JSON ({e.msg})") from None
        return cls.from_dict(obj)

    # ---- serialization ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Flat dict: ``depth``, scalars for global dims, lists for per-layer dims."""
        out: dict[str, Any] = {"depth": self.depth}
        out.update(self.values)
        out.update({k: list(v) for k, v in self.layers})
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys); ``from_json(a.to_json()) == a`` exactly."""
        return json.dumps(self.to_dict(), sort_keys=True)

    # ---- access -------------------------------------------------------------
    def get(self, name: str, default: Any = None) -> Any:
        """Value of a global dim, or the tuple of a per-layer dim."""
        if name == "depth":
            return self.depth
        for k, v in self.values:
            if k == name:
                return v
        for k, v in self.layers:
            if k == name:
                return v
        return default

    def __getitem__(self, name: str) -> Any:
        out = self.get(name, _MISSING)
        if out is _MISSING:
            raise KeyError(name)
        return out

    def __contains__(self, name: str) -> bool:
        return self.get(name, _MISSING) is not _MISSING

    def names(self) -> Iterator[str]:
        yield "depth"
        yield from (k for k, _ in self.values)
        yield from (k for k, _ in self.layers)

    def replace(self, **dims: Any) -> ArchConfig:
        """A copy with some dims changed (per-layer dims as lists or tuples)."""
        d = self.to_dict()
        d.update(dims)
        return ArchConfig.from_dict(d)

    def per_layer(self, name: str, default: Any = None) -> tuple:
        """A dim's value in every active layer: a per-layer tuple, or a global value (or
        ``default`` when the dim is absent) repeated; KeyError when absent without a default."""
        v = self.get(name, default)
        if v is None:
            raise KeyError(name)
        return v if isinstance(v, tuple) else (v,) * self.depth

    # Conveniences for the transformer dims of the built-in spaces (per layer, also when a
    # space declares one value for all layers, as Hugging Face configs do).
    @property
    def embed_dim(self) -> int:
        return self["embed_dim"]

    @property
    def num_heads(self) -> tuple[int, ...]:
        return self.per_layer("num_heads")

    @property
    def mlp_dim(self) -> tuple[int, ...]:
        return self.per_layer("mlp_dim")

    @property
    def attn_type(self) -> tuple[str, ...]:
        """The token mixer of each layer (dimension ``mixer``, or its old name ``attn_type``)."""
        from search_spaces.mixers import layer_mixers

        return layer_mixers(self)

    def short(self) -> str:
        """A compact human-readable string, e.g. for tables."""
        parts = [f"d{self.depth}"] + [f"{k}={v}" for k, v in self.values]
        parts += [f"{k}={'/'.join(str(x) for x in v)}" for k, v in self.layers]
        return " ".join(parts)


_MISSING = object()
