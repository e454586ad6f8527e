"""The structure of a search space: its dimensions, and what the operators read of a space.

:class:`Dimension` is one searchable choice.  :class:`SpaceStructure` is the part of a
:class:`search_spaces.space.SearchSpace` that the operators (:mod:`search_spaces.operators`),
the columnar batches (:mod:`search_spaces.batch`) and the encodings
(:mod:`search_spaces.encoding`) read.  They depend on this module, not on ``space.py``,
so that ``SearchSpace`` can offer them as methods (``space.sample()``, ``space.encode()``)
without an import loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from search_spaces.arch import ArchConfig, Value
from search_spaces.errors import SpaceError

_SCALARS = (bool, int, float, str)


def _same_choice(value: Any, choice: Any) -> bool:
    """Equality that does not confuse True with 1 or 1 with 1.0 of another kind."""
    if isinstance(choice, bool) or isinstance(value, bool):
        return isinstance(choice, bool) and isinstance(value, bool) and value == choice
    if isinstance(choice, str) or isinstance(value, str):
        return value == choice
    return value == choice


def _choice_key(value: Any) -> tuple[Any, Any]:
    """A dict key under which two plain values are equal exactly when :func:`_same_choice` says so."""
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, str):
        return (str, value)
    return (None, value)  # numbers: 1 and 1.0 are the same choice, as their hashes are


@dataclass(frozen=True)
class Dimension:
    """One searchable choice; ``per_layer`` dims take one value per active layer."""

    name: str
    choices: tuple[Value, ...]
    per_layer: bool = False

    def __post_init__(self) -> None:
        where = f"dimension '{self.name}'"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpaceError(f"{where}: name must be an identifier, got {self.name!r}")
        choices = self.choices
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Iterable):
            raise SpaceError(f"{where}: choices must be a list, got {choices!r}")
        choices = tuple(choices)
        if not choices:
            raise SpaceError(f"{where}: choices must not be empty")
        for c in choices:
            if not isinstance(c, _SCALARS):
                raise SpaceError(f"{where}: choice {c!r} is not an int, float, string or boolean")
        kinds = {self._kind(c) for c in choices}
        if len(kinds) > 1 and kinds != {"number"}:
            raise SpaceError(f"{where}: choices {list(choices)!r} mix types")
        for i, c in enumerate(choices):
            if any(_same_choice(c, d) and type(c) is type(d) for d in choices[:i]):
                raise SpaceError(f"{where}: choice {c!r} is repeated")
        object.__setattr__(self, "choices", choices)
        lookup: dict[tuple[Any, Any], int] = {}  # choice key -> first position (for index)
        for i, c in enumerate(choices):
            lookup.setdefault(_choice_key(c), i)
        object.__setattr__(self, "_lookup", lookup)

    @staticmethod
    def _kind(c: Any) -> str:
        if isinstance(c, bool):
            return "bool"
        if isinstance(c, str):
            return "str"
        return "number"

    @property
    def kind(self) -> str:
        """'number', 'bool' or 'str' (strings are one-hot encoded)."""
        return self._kind(self.choices[0])

    def index(self, value: Any) -> int:
        """Position of ``value`` among the choices, or -1.

        A dict lookup for plain values (a search screens hundreds of thousands of
        architectures through this), the scan of :func:`_same_choice` for any other."""
        t = type(value)
        if t is bool or t is str or ((t is int or t is float) and value == value):  # (a NaN: the scan)
            return self._lookup.get((t if t is not int and t is not float else None, value), -1)  # type: ignore[attr-defined]
        for i, c in enumerate(self.choices):
            if _same_choice(value, c):
                return i
        return -1

    def smallest(self) -> Value:
        return min(self.choices) if self.kind == "number" else self.choices[0]

    def largest(self) -> Value:
        return max(self.choices) if self.kind == "number" else self.choices[-1]


class SpaceStructure(Protocol):
    """What operators, batches and encodings read of a space (``SearchSpace`` has it all)."""

    name: str
    max_depth: int

    @property
    def depth_choices(self) -> tuple[int, ...]: ...

    @property
    def global_dimensions(self) -> tuple[Dimension, ...]:
        """Global dims other than depth."""
        ...

    @property
    def layer_dimensions(self) -> tuple[Dimension, ...]: ...

    def dimensions(self) -> list[Dimension]: ...

    def dimension(self, name: str) -> Dimension: ...

    def validate(self, arch: ArchConfig) -> ArchConfig: ...
