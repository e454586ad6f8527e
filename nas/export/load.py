"""Loading an exported bundle in a fresh process, without the supernet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from search_spaces import ArchConfig, NasError, SearchSpace, space_from_dict
from search_spaces.schema import validate
from supernet import any_model


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
        return jax.jit(any_model.build(self.space, self.arch).apply)

    def stablehlo(self):
        """The deserialized jax.export artifact (``.call(x)`` runs it)."""
        from jax import export

        return export.deserialize(bytearray((self.path / "model.stablehlo").read_bytes()))


def read_config(path: str | Path) -> dict:
    from nas.export.bundle import READABLE_VERSIONS

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
    ver = config.get("format_version")
    if isinstance(ver, bool) or ver not in READABLE_VERSIONS:
        raise NasError(
            f"'{cfg_path}': field 'format_version' is {ver!r}; this version reads {list(READABLE_VERSIONS)}"
        )
    validate(config, "nas", "bundle", where=f"'{cfg_path}'")  # nas/schemas/bundle.schema.json
    return config


def verify_bundle(path: str | Path, config: dict | None = None) -> list[str]:
    """Checks every file of the bundle's checksum manifest (and that ``weights/`` holds
    nothing else) without loading anything; returns the checked files ([] for a format-1
    bundle, written before the manifest).  A damaged file is a one-line NasError naming it."""
    from nas.export.bundle import UNCHECKED
    from search_spaces.integrity import verify_files

    path = Path(path)
    config = read_config(path) if config is None else config
    if config["format_version"] < 2:
        return []
    manifest = config.get("checksums")
    if not isinstance(manifest, dict):
        raise NasError(f"'{path / 'config.json'}': field 'checksums' is missing or not a mapping")
    for rel, entry in manifest.items():
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("size"), int)
            and not isinstance(entry.get("size"), bool)
        )
        if not ok or rel in UNCHECKED or rel.startswith("/") or ".." in rel.split("/"):
            raise NasError(
                f"'{path / 'config.json'}': field 'checksums.{rel}' is not a file checksum: {entry!r}"
            )
    return verify_files(path, manifest, where=f"bundle '{path}'", folders=["weights"])


def load_subnet(path: str | Path) -> Subnet:
    """Loads ``config.json`` and the Orbax weights of a bundle, in the dtype they were written in
    (``weights_dtype``: float32, or bfloat16 for ``nas export --dtype bf16``)."""
    import orbax.checkpoint as ocp

    path = Path(path)
    config = read_config(path)
    for key in ("space", "arch"):
        if not isinstance(config.get(key), dict):
            raise NasError(f"'{path / 'config.json'}': field '{key}' is missing or not a mapping")
    space = space_from_dict(config["space"], source=f"bundle '{path}'")
    arch = space.parse(config["arch"])
    stored = jnp.dtype(config.get("weights_dtype", "float32"))  # bundles before it: float32
    target = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, stored) if jnp.issubdtype(s.dtype, jnp.floating) else s,
        jax.eval_shape(lambda: any_model.init(space, arch, jax.random.key(0))),
    )
    weights = path / "weights"
    if not weights.is_dir():
        raise NasError(f"bundle '{path}' has no weights/ folder")
    verify_bundle(path, config)
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
