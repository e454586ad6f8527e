"""Loading an exported bundle in a fresh process, without the supernet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from search_spaces import ArchConfig, NasError, SearchSpace, space_from_dict
from supernet import standalone


@dataclass(frozen=True)
class Subnet:
    """A loaded bundle: call it on a batch of inputs to get logits."""

    path: Path
    space: SearchSpace
    arch: ArchConfig
    variables: Any
    config: dict

    def __call__(self, x: Any) -> np.ndarray:
        return np.asarray(self.apply(self.variables, x))

    @property
    def apply(self):
        return jax.jit(standalone.build(self.space, self.arch).apply)

    def stablehlo(self):
        """The deserialized jax.export artifact (``.call(x)`` runs it)."""
        from jax import export

        return export.deserialize(bytearray((self.path / "model.stablehlo").read_bytes()))


def read_config(path: str | Path) -> dict:
    from nas.export.bundle import FORMAT_VERSION

    path = Path(path)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise NasError(f"'{path}' is not an exported bundle (no config.json)")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise NasError(f"'{cfg_path}' is corrupted: {e.msg} at line {e.lineno}") from None
    if not isinstance(config, dict):
        raise NasError(f"'{cfg_path}': expected a JSON object, got {type(config).__name__}")
    if config.get("format_version") != FORMAT_VERSION:
        raise NasError(
            f"'{cfg_path}': field 'format_version' is {config.get('format_version')!r}; "
            f"this version reads {FORMAT_VERSION}"
        )
    return config


def load_subnet(path: str | Path) -> Subnet:
    """Loads ``config.json`` and the Orbax weights of a bundle."""
    import orbax.checkpoint as ocp

    path = Path(path)
    config = read_config(path)
    for key in ("space", "arch"):
        if not isinstance(config.get(key), dict):
            raise NasError(f"'{path / 'config.json'}': field '{key}' is missing or not a mapping")
    space = space_from_dict(config["space"], source=f"bundle '{path}'")
    arch = space.parse(config["arch"])
    target = jax.eval_shape(lambda: standalone.init(space, arch, jax.random.key(0)))
    weights = path / "weights"
    if not weights.is_dir():
        raise NasError(f"bundle '{path}' has no weights/ folder")
    try:
        variables = ocp.StandardCheckpointer().restore(weights.absolute(), target)
    except Exception as e:  # noqa: BLE001 - Orbax / Flax errors on damaged or mismatched weights, as one line
        text = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise NasError(
            f"bundle '{path}': weights/ cannot be read for the architecture in config.json "
            f"({type(e).__name__}: {text})"
        ) from None
    got = jax.tree.map(lambda a: tuple(np.shape(a)), variables)
    want = jax.tree.map(lambda a: tuple(a.shape), target)
    if got != want:
        raise NasError(
            f"bundle '{path}': the shapes in weights/ do not match the architecture in config.json"
        )
    return Subnet(path=path, space=space, arch=arch, variables=variables, config=config)
