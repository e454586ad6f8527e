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
from typing import Any, Callable, NamedTuple

import numpy as np

from search_spaces.errors import NasError

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")


def read_config(folder: str | Path, *, field: str = "init_from") -> dict[str, Any]:
    """The folder's ``config.json`` as a dict; a missing folder or file, or bad JSON, is one
    line naming ``field`` (the option or argument that named the folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NasError(f"field '{field}': folder '{folder}' does not exist")
    if not (folder / "config.json").is_file():
        raise NasError(f"field '{field}': '{folder}' has no config.json")
    try:
        config = json.loads((folder / "config.json").read_text())
    except json.JSONDecodeError as e:
        raise NasError(f"{folder}/config.json: not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(config, dict):
        raise NasError(f"{folder}/config.json: expected a JSON object")
    return config


class Layout(NamedTuple):
    """How one family's folder names its tensors: ``shape_of(config, source=...)`` reads the
    architecture facts of its ``config.json``, ``expected_shapes(shape)`` the tensors they
    imply; names are saved after ``prefix`` (``lm_head.weight`` as it is); ``buffers`` are
    suffixes of tensors old versions saved that are skipped; ``embed`` is the embedding a tied
    head shares."""

    shape_of: Callable[..., dict[str, Any]]
    expected_shapes: Callable[[dict[str, Any]], dict[str, tuple]]
    prefix: str
    buffers: tuple[str, ...]
    embed: str


def read_checkpoint(
    folder: str | Path, layout: Layout, *, field: str = "init_from"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(config, checked float32 tensors under their names without the prefix) of a folder."""
    folder = Path(folder)
    config = read_config(folder, field=field)
    files = weight_files(folder, field=field)  # a pickle-only folder is refused before its config
    shape = layout.shape_of(config, source=f"{folder}/config.json")
    tensors = checked_tensors(
        load_safetensors(files, field=field),
        layout.expected_shapes(shape),
        prefix=layout.prefix,
        buffers=layout.buffers,
        embed=layout.embed,
        tied=shape["tied"],
        folder=folder,
    )
    return config, tensors


def write_checked(
    folder: str | Path,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray],
    layout: Layout,
    *,
    tokenizer_from: str | Path | None = None,
) -> Path:
    """Checks ``tensors`` against what ``config`` implies, then :func:`write_folder`."""
    check_tensors(tensors, layout.expected_shapes(layout.shape_of(config)), source="export")
    return write_folder(Path(folder), config, tensors, prefix=layout.prefix, tokenizer_from=tokenizer_from)


def weight_files(folder: Path, *, field: str = "init_from") -> list[Path]:
    """The safetensors files of a folder: ``model.safetensors``, or every shard the index names
    (a missing shard is one line naming it)."""
    if (folder / WEIGHTS).is_file():
        files = [folder / WEIGHTS]
    elif (folder / INDEX).is_file():
        try:
            index = json.loads((folder / INDEX).read_text())
        except json.JSONDecodeError as e:
            raise NasError(f"{folder}/{INDEX}: not valid JSON ({e.msg}, line {e.lineno})") from None
        files = [folder / f for f in sorted(set(index.get("weight_map", {}).values()))]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise NasError(
                f"field '{field}': '{folder}' has no shard '{missing[0]}'"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f" that {INDEX} names"
            )
    elif (folder / "pytorch_model.bin").is_file():
        raise NasError(
            f"field '{field}': '{folder}' holds only pytorch_model.bin (a pickle, never loaded here); "
            "save it with safe_serialization=True"
        )
    else:
        raise NasError(f"field '{field}': '{folder}' has no {WEIGHTS}")
    return files


def load_safetensors(files: list[Path], *, field: str = "init_from") -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    tensors: dict[str, np.ndarray] = {}
    for f in files:
        try:
            tensors.update(load_file(str(f)))
        except Exception as e:  # noqa: BLE001 - a corrupt or bfloat16 file: one line
            raise NasError(f"field '{field}': cannot read '{f}' ({type(e).__name__}: {e})") from None
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
    check_tensors(tensors, want, source=str(folder), prefix=prefix)
    return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}


def check_tensors(
    tensors: dict[str, np.ndarray], want: dict[str, tuple], *, source: str, prefix: str = ""
) -> None:
    """Missing, unexpected or misfit tensors: one line naming the tensor (as the file names
    it: ``prefix`` + name, ``lm_head.weight`` as it is) and both shapes."""

    def named(name: str) -> str:
        return name if name == "lm_head.weight" else prefix + name

    for name, shp in want.items():
        if name not in tensors:
            raise NasError(f"{source}: tensor '{named(name)}' is missing (expected shape {shp})")
        if tuple(tensors[name].shape) != shp:
            raise NasError(
                f"{source}: tensor '{named(name)}' has shape {tuple(tensors[name].shape)}; "
                f"config.json implies {shp}"
            )
    extra = sorted(set(tensors) - set(want))
    if extra:
        raise NasError(
            f"{source}: unexpected tensor '{named(extra[0])}' {tuple(tensors[extra[0]].shape)}"
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
