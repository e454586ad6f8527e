"""Start from a pretrained model: GPT-2 and Llama checkpoints in, GPT-2 and Llama subnets out.

A folder whose ``config.json`` says ``model_type: llama`` (SmolLM, TinyLlama, ...) goes
through :mod:`.hf_llama` and :mod:`.llama_layout` into a space with ``task.block:
llama``; any other through the GPT-2 modules below.

* :func:`load_params`: a Hugging Face GPT-2 folder (``config.json`` +
  ``model.safetensors``) -> supernet params of a space whose largest subnet has
  the checkpoint's shape (optionally importance-ordered, see :mod:`.importance`).
* :func:`write_gpt2`: one uniform LM subnet's standalone weights -> a GPT-2 folder
  (``config.json``, ``model.safetensors``, the tokenizer) that Hugging Face tools load.
* :func:`fingerprint`: a digest of a folder's weights, kept in checkpoints so a
  resumed run knows it starts from the same model.

``nas train CONFIG --init-from DIR`` (or ``init_from:`` in the config) imports;
``nas hf export`` writes.  Nothing is downloaded: a user points at a folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError
from supernet.pretrained import gpt2_layout, hf_gpt2, hf_llama, importance, llama_layout

ORDERS = ("position", "importance")


def load_params(folder: str | Path, space: SearchSpace, *, order: str = "position") -> dict:
    """Supernet params (NumPy) from a GPT-2 folder; ``order='importance'`` sorts heads and neurons."""
    if order not in ORDERS:
        raise NasError(f"field 'init_order' is {order!r}; choose one of {list(ORDERS)}")
    if hf_llama.is_llama(hf_llama.read_config(folder)):
        params = llama_layout.to_supernet(hf_llama.read(folder), space)
        return llama_layout.reorder(params) if order == "importance" else params
    params = gpt2_layout.to_supernet(hf_gpt2.read(folder), space)
    return importance.reorder(params) if order == "importance" else params


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


def write_gpt2(
    folder: str | Path,
    space: SearchSpace,
    arch: ArchConfig,
    variables: dict,
    *,
    tokenizer: str | Path | None = None,
) -> Path:
    """Writes subnet ``arch`` (standalone ``variables``) as a GPT-2 folder; one-line error if it is not uniform."""
    config, tensors = gpt2_layout.from_subnet(space, arch, variables)
    return hf_gpt2.write(folder, config, tensors, tokenizer_from=tokenizer)


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
) -> Path:
    """Writes subnet ``arch`` as the Hugging Face folder of its family (Llama or GPT-2)."""
    if is_llama_space(space):
        config, tensors = llama_layout.from_subnet(space, arch, variables)
        return hf_llama.write(folder, config, tensors, tokenizer_from=tokenizer)
    return write_gpt2(folder, space, arch, variables, tokenizer=tokenizer)


why_not_gpt2 = gpt2_layout.why_not_gpt2

__all__ = [
    "ORDERS",
    "fingerprint",
    "importance",
    "is_llama_space",
    "load_params",
    "why_not_gpt2",
    "why_not_hf",
    "write_gpt2",
    "write_hf",
]
