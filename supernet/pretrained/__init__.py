"""Start from a pretrained model: GPT-2 and Llama checkpoints in, GPT-2 and Llama subnets out.

A folder whose ``config.json`` says ``model_type: llama`` (SmolLM, TinyLlama, ...) goes
through :mod:`.hf_llama` and :mod:`.llama_layout` into a space with ``task.block:
llama``; any other through the GPT-2 modules below.

* :func:`load_params`: a Hugging Face GPT-2 folder (``config.json`` +
  ``model.safetensors``) -> supernet params of a space whose largest subnet has
  the checkpoint's shape (optionally importance-ordered, see :mod:`.importance`).
* :func:`write_hf`: one uniform LM subnet's standalone weights -> a GPT-2 or Llama folder
  (``config.json``, ``model.safetensors``, the tokenizer) that Hugging Face tools load.
* :func:`read`: the checked checkpoint of a folder of either family.
* :func:`fingerprint`: a digest of a folder's weights, kept in checkpoints so a
  resumed run knows it starts from the same model.

``nas train CONFIG --init-from DIR`` (or ``init_from:`` in the config) imports;
``nas hf export`` writes.  Nothing is downloaded: a user points at a folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError
from supernet.pretrained import gpt2_layout, hf_folder, hf_gpt2, hf_llama, importance, llama_layout

ORDERS = ("position", "importance")


def family(folder: str | Path, *, field: str = "init_from") -> tuple[Any, Any]:
    """(layout module, folder module) of a Hugging Face folder: Llama when its ``config.json``
    says ``model_type: llama``, GPT-2 otherwise."""
    if hf_llama.is_llama(hf_folder.read_config(folder, field=field)):
        return llama_layout, hf_llama
    return gpt2_layout, hf_gpt2


def read(folder: str | Path, *, field: str = "init_from") -> Any:
    """The checked checkpoint of a Llama or GPT-2 folder (``.config``, ``.tensors``, ``.shape``)."""
    return family(folder, field=field)[1].read(folder, field=field)


def load_params(
    folder: str | Path, space: SearchSpace, *, order: str = "position", field: str = "init_from"
) -> dict:
    """Supernet params (NumPy) from a GPT-2 or Llama folder; ``order='importance'`` sorts heads
    and neurons; ``field`` names what gave the folder in error messages."""
    if order not in ORDERS:
        raise NasError(f"field 'init_order' is {order!r}; choose one of {list(ORDERS)}")
    layout, hf = family(folder, field=field)
    params = layout.to_supernet(hf.read(folder, field=field), space)
    return layout.reorder(params) if order == "importance" else params


def fingerprint(folder: str | Path) -> str:
    """sha256 of the folder's config.json and weight files (first 16 hex digits)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")) + [folder / "config.json"]:
        if f.is_file():
            h.update(f.name.encode())
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def with_tokenizer(data_cfg: dict, folder: str | Path | None) -> dict:
    """``data_cfg`` with ``tokenizer`` set to the checkpoint folder's ``tokenizer.json`` when it has one
    and the data block names none (a pretrained model keeps the ids it was trained on)."""
    if folder is None or data_cfg.get("tokenizer") or not (Path(folder) / "tokenizer.json").is_file():
        return data_cfg
    return {**data_cfg, "tokenizer": str(Path(folder) / "tokenizer.json")}


def is_llama_space(space: SearchSpace) -> bool:
    from supernet.model import geometry

    return geometry(space).task.llama


def why_not_hf(space: SearchSpace, arch: ArchConfig) -> str | None:
    """None if ``arch`` can be written as a Hugging Face folder (Llama or GPT-2), else the reason."""
    if is_llama_space(space):
        return llama_layout.why_not_llama(space, arch)
    return gpt2_layout.why_not_gpt2(space, arch)


def write_hf(
    folder: str | Path,
    space: SearchSpace,
    arch: ArchConfig,
    variables: dict,
    *,
    tokenizer: str | Path | None = None,
    max_positions: int | None = None,
) -> Path:
    """Writes subnet ``arch`` (standalone ``variables``) as the Hugging Face folder of its
    family (Llama or GPT-2); one-line error if that family cannot express it.  A Llama's
    ``max_position_embeddings`` is ``max_positions`` or the checkpoint's own
    (:func:`.llama_layout.from_subnet`); a GPT-2's ``n_positions`` is its position table's rows."""
    if is_llama_space(space):
        config, tensors = llama_layout.from_subnet(space, arch, variables, max_positions=max_positions)
        return hf_folder.write_checked(folder, config, tensors, hf_llama.LAYOUT, tokenizer_from=tokenizer)
    if max_positions is not None:
        raise NasError(
            f"field 'max_positions' ({max_positions}): a GPT-2 folder's n_positions is the rows of its "
            "position table (the space's seq_len)"
        )
    layout, hf = gpt2_layout, hf_gpt2
    config, tensors = layout.from_subnet(space, arch, variables)
    return hf_folder.write_checked(folder, config, tensors, hf.LAYOUT, tokenizer_from=tokenizer)


write_gpt2 = write_hf  # the name of GPT-2 days: a GPT-2 space writes a GPT-2 folder
why_not_gpt2 = gpt2_layout.why_not_gpt2

__all__ = [
    "ORDERS",
    "family",
    "fingerprint",
    "importance",
    "is_llama_space",
    "load_params",
    "read",
    "why_not_gpt2",
    "why_not_hf",
    "write_gpt2",
    "write_hf",
]
