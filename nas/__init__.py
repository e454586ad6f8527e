"""The search: strategies, objectives and constraints, the Ray runner, export, the CLI."""

from __future__ import annotations


def load_subnet(path):
    """Loads an exported subnet bundle (see :mod:`nas.export`)."""
    from nas.export.load import load_subnet as _load

    return _load(path)
