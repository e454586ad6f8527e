"""How a long job below the CLI reports its progress without printing anything itself.

The trainer (:func:`supernet.train.train_and_evaluate`) and the latency campaign
(:func:`predictors.campaign.run_campaign`) take a ``progress`` object of the
:class:`Progress` shape: they open a bar over their steps, move it with the live figures
(the loss, the sampler's bin, a group's median) and hand it every record they write to
their files.  What a person sees is decided on the top floor: the CLI passes a
:class:`nas.terminal.Terminal` (a tqdm bar, readable lines or JSON lines, or nothing), a
script passes its own object or nothing (:data:`SILENT`).  No layer below ``nas`` imports
``nas``; this module sits at the bottom so that every layer can name the shape.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol


class ProgressBar(Protocol):
    """One job's bar: ``update`` after each unit of work, ``close`` at the end."""

    def update(self, n: int = 1, **fields: Any) -> None:
        """Moves on by ``n``; ``fields`` are the live scalar figures (loss, bin, median)."""

    def close(self) -> None:
        """The job is over."""


class Progress(Protocol):
    """Where a lower layer reports: bars over its work and the records it writes."""

    def bar(self, *, total: int, desc: str, initial: int = 0, show: bool = True) -> ProgressBar:
        """A bar over ``total`` units of which ``initial`` were done by an earlier run."""

    def record(self, obj: Mapping[str, Any]) -> None:
        """A record exactly as the job writes it to its file (a metrics or a measurement line)."""


class _SilentBar:
    def update(self, n: int = 1, **fields: Any) -> None:
        pass

    def close(self) -> None:
        pass


class Silent:
    """Reports nothing: the default when a caller passes no ``progress``."""

    def bar(self, *, total: int, desc: str, initial: int = 0, show: bool = True) -> ProgressBar:
        return _SilentBar()

    def record(self, obj: Mapping[str, Any]) -> None:
        pass


SILENT: Progress = Silent()
