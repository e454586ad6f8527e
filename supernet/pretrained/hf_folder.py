"""What every Hugging Face model folder shares, whatever the architecture
(:mod:`supernet.pretrained.hf_gpt2`, :mod:`supernet.pretrained.hf_llama`): its weights as
``model.safetensors`` or ``model.safetensors.index.json`` + shards, read with the
``safetensors`` NumPy API (``pytorch_model.bin``, a pickle, is refused); the check of the
tensors against the names and shapes its ``config.json`` implies; and a folder written
whole through a temporary sibling, so an existing one is never half-overwritten.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces.errors import NasError

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")


def weight_files(folder: Path) -> list[Path]:
    if (folder / WEIGHTS).is_file():
        files = [folder / WEIGHTS]
    elif (folder / INDEX).is_file():
        index = json.loads((folder / INDEX).read_text())
        files = [folder / f for f in sorted(set(index.get("weight_map", {}).values()))]
    elif (folder / "pytorch_model.bin").is_file():
        raise NasError(
            f"field 'init_from': '{folder}' holds only pytorch_model.bin (a pickle, never loaded here); "
            "save it with safe_serialization=True"
        )
    else:
        raise NasError(f"field 'init_from': '{folder}' has no {WEIGHTS}")
    return files


def load_safetensors(files: list[Path]) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    tensors: dict[str, np.ndarray] = {}
    for f in files:
        try:
            tensors.update(load_file(str(f)))
        except Exception as e:  # noqa: BLE001 - a corrupt or bfloat16 file: one line
            raise NasError(f"field 'init_from': cannot read '{f}' ({type(e).__name__}: {e})") from None
    return tensors


def checked_tensors(
    raw: dict[str, np.ndarray],
    want: dict[str, tuple],
    *,
    prefix: str,
    buffers: tuple[str, ...],
    embed: str,
    tied: bool,
    folder: Path,
) -> dict[str, np.ndarray]:
    """The tensors of a folder as float32 under their canonical names (``prefix`` dropped,
    the ``buffers`` old versions saved skipped), checked against ``want``.  A tied checkpoint
    may save ``lm_head.weight``: it must equal the embedding ``embed``, and is dropped."""
    tensors = {
        (k[len(prefix) :] if k.startswith(prefix) else k): v
        for k, v in raw.items()
        if not k.endswith(buffers)
    }
    if tied and "lm_head.weight" in tensors:
        lm = tensors.pop("lm_head.weight")
        if lm.shape != want[embed] or not np.array_equal(lm, tensors.get(embed, lm)):
            raise NasError(
                f"{folder}: tensor 'lm_head.weight' {lm.shape} differs from '{embed}' but "
                "config.json says tie_word_embeddings is true"
            )
    check_tensors(tensors, want, source=str(folder))
    return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}


def check_tensors(tensors: dict[str, np.ndarray], want: dict[str, tuple], *, source: str) -> None:
    """Missing, unexpected or misfit tensors: one line naming the tensor and both shapes."""
    for name, shp in want.items():
        if name not in tensors:
            raise NasError(f"{source}: tensor '{name}' is missing (expected shape {shp})")
        if tuple(tensors[name].shape) != shp:
            raise NasError(
                f"{source}: tensor '{name}' has shape {tuple(tensors[name].shape)}; config.json implies {shp}"
            )
    extra = sorted(set(tensors) - set(want))
    if extra:
        raise NasError(
            f"{source}: unexpected tensor '{extra[0]}' {tuple(tensors[extra[0]].shape)}"
            + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
        )


def write_folder(
    folder: Path,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray],
    *,
    prefix: str,
    tokenizer_from: str | Path | None,
) -> Path:
    """Writes ``config.json``, the tensors (``lm_head.weight`` as it is, every other name after
    ``prefix``) as float32 ``model.safetensors`` and the tokenizer files of ``tokenizer_from``
    into a temporary sibling, then puts it in place of ``folder``."""
    from safetensors.numpy import save_file

    tmp = folder.with_name(folder.name + ".tmp-hf")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    named = {
        (k if k == "lm_head.weight" else prefix + k): np.ascontiguousarray(v, np.float32)
        for k, v in tensors.items()
    }
    save_file(named, str(tmp / WEIGHTS), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if tokenizer_from is not None:
        src = Path(tokenizer_from)
        if src.is_file():
            shutil.copy2(src, tmp / "tokenizer.json")
        for name in TOKENIZER_FILES if src.is_dir() else ():
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
    if folder.exists():
        old = folder.with_name(folder.name + ".old-hf")
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old)
    else:
        tmp.rename(folder)
    return folder
