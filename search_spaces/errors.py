"""User-facing errors of the framework.

Every mistake a user can make (a bad YAML file, a value outside a space, an
unknown space or device) raises a subclass of :class:`NasError`.  Its message is
one line that names the field and the value; the CLI prints that line and exits
with status 2 instead of showing a traceback.
"""

from __future__ import annotations

from typing import Any


class NasError(ValueError):
    """Base class of every user mistake; the message is one self-contained line."""


class SpaceError(NasError):
    """A search space declaration is malformed."""


class InvalidArchError(NasError):
    """An architecture is outside its search space.

    Attributes name the offending ``field`` (for example ``num_heads[2]``), the
    ``value`` and the ``allowed`` choices so that callers can react precisely.
    """

    def __init__(self, field: str, value: Any, allowed: Any = None, reason: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        msg = f"invalid architecture: field '{field}' has value {value!r}"
        if reason:
            msg += f": {reason}"
        elif allowed is not None:
            msg += f"; allowed choices are {list(allowed)!r}"
        super().__init__(msg)
