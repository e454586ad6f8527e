"""Content checksums of what we write: a sha256 manifest of a folder's files (a bundle's
``weights/``, its compiled models) and of the arrays of an npz (a fitted predictor).

A manifest is recorded when the artifact is written and checked when it is read, so
a truncated, altered, missing or stray file ends in one line naming it instead of a
model that silently answers wrong::

    {"weights/d/0a1b...": {"sha256": "9f86...", "size": 1234}, ...}      # files
    {"coef": {"sha256": "2c26...", "dtype": "<f8", "shape": [12]}, ...}    # npz arrays

An array's digest covers its dtype, shape and bytes, so a reshaped or retyped array
fails too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from search_spaces.errors import NasError

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def files_under(root: str | Path, names: Iterable[str]) -> list[str]:
    """Relative POSIX paths of every file under ``root``/NAME for each NAME (a file or a folder)."""
    root = Path(root)
    out = []
    for name in names:
        p = root / name
        if p.is_file():
            out.append(name)
        elif p.is_dir():
            out += [f.relative_to(root).as_posix() for f in sorted(p.rglob("*")) if f.is_file()]
    return sorted(out)


def file_manifest(root: str | Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256", "size"}}`` of the files :func:`files_under` finds."""
    root = Path(root)
    return {
        rel: {"sha256": file_sha256(root / rel), "size": (root / rel).stat().st_size}
        for rel in files_under(root, names)
    }


def verify_files(
    root: str | Path, manifest: Mapping[str, Mapping[str, Any]], *, where: str, folders: Iterable[str] = ()
) -> list[str]:
    """Checks every file of ``manifest`` under ``root`` (and that ``folders`` hold no file the
    manifest lacks); returns the checked paths, or raises a one-line NasError naming the file."""
    root = Path(root)
    for rel in sorted(manifest):
        want = manifest[rel]
        p = root / rel
        if not p.is_file():
            raise NasError(f"{where}: file '{rel}' is missing (listed in the checksum manifest)")
        size = p.stat().st_size
        if size != want["size"]:
            how = "truncated" if size < want["size"] else "grown"
            raise NasError(
                f"{where}: file '{rel}' is damaged ({how}: {size} bytes, the manifest says {want['size']})"
            )
        if file_sha256(p) != want["sha256"]:
            raise NasError(
                f"{where}: file '{rel}' is damaged (altered: its sha256 differs from the manifest)"
            )
    extra = [rel for rel in files_under(root, folders) if rel not in manifest]
    if extra:
        raise NasError(
            f"{where}: file '{extra[0]}' is not in the checksum manifest (a stray or renamed file)"
        )
    return sorted(manifest)


def array_sha256(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}|{list(a.shape)}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def array_manifest(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "dtype", "shape"}}`` of the arrays written to an npz."""
    out = {}
    for k, v in sorted(arrays.items()):
        a = np.asarray(v)
        out[k] = {"sha256": array_sha256(a), "dtype": a.dtype.str, "shape": list(a.shape)}
    return out


def verify_arrays(arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Mapping[str, Any]], *, where: str):
    """One-line NasError naming the first array that is missing, extra or differs from ``manifest``."""
    for k in sorted(manifest):
        if k not in arrays:
            raise NasError(f"{where}: array '{k}' is missing (listed in the checksum manifest)")
        if array_sha256(np.asarray(arrays[k])) != manifest[k]["sha256"]:
            a = np.asarray(arrays[k])
            raise NasError(
                f"{where}: array '{k}' is damaged ({a.dtype.str} {list(a.shape)}; the manifest says "
                f"{manifest[k]['dtype']} {manifest[k]['shape']} with another sha256)"
            )
    extra = sorted(set(arrays) - set(manifest))
    if extra:
        raise NasError(f"{where}: array '{extra[0]}' is not in the checksum manifest")
