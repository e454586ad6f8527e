"""Reading image files with Pillow: every mode a folder can hold, in the task's channels.

Each file becomes float32 pixels in [0, 1], ``(H, W, C)`` for the task's ``channels``
``C`` (1, 3 or 4), scaled by the range of its own mode:

* 8-bit modes (``1``, ``L``, ``LA``, ``P`` with or without transparency, ``RGB``,
  ``RGBA``, ``CMYK``, ``YCbCr``, ...) go through Pillow's own conversion to ``L``,
  ``RGB`` or ``RGBA`` (luma ``L = 0.299 R + 0.587 G + 0.114 B``; ``CMYK`` to
  ``R = (255 - C)(255 - K) / 255``; a palette's transparent entries get alpha 0; an
  image without alpha is opaque; alpha is dropped for 1 and 3 channels), are resized
  there and divided by 255 (``1``: 0 or 1);
* ``I;16`` (16-bit PNG and TIFF, any byte order) is divided by 65,535;
* ``I`` (32-bit integers, what Pillow gives for some 16-bit files) is divided by 65,535
  too, and a value outside 0..65,535 is an error naming the file;
* ``F`` (32-bit float) is taken as it is, and a value outside [0, 1] is an error.

One-channel modes of more than 8 bits are resized in floating point (``F``) and then
repeated to 3 channels (plus an opaque alpha for 4), so no precision is lost to 8 bits.

A file that cannot be read (zero bytes, truncated, not an image) is an error that names
it, unless ``skip_unreadable``: then it is left out and listed with its reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from search_spaces.errors import NasError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_PIL_MODE = {1: "L", 3: "RGB", 4: "RGBA"}
_WIDE_SCALE = {"I": 65535.0, "F": 1.0}  # one-channel modes wider than 8 bits (and I;16*)


class Read(NamedTuple):
    """Images read from files: ``x`` (N, H, W, C) float32, the files kept (in order) and
    those skipped as ``(file, reason)``."""

    x: np.ndarray
    files: list[Path]
    skipped: list[tuple[str, str]]


def channel_mode(channels: int) -> str:
    mode = _PIL_MODE.get(channels)
    if mode is None:
        raise NasError(f"field 'task.channels': image folders need 1, 3 or 4 channels, got {channels}")
    return mode


def pixels(im, *, size: tuple[int, int], channels: int, source: str = "image") -> np.ndarray:
    """One open Pillow image as float32 ``(H, W, channels)`` in [0, 1] (module docstring)."""
    from PIL import Image

    H, W = size
    wide = "I" if im.mode.startswith("I;16") else im.mode
    if wide not in _WIDE_SCALE:
        out = im.convert(channel_mode(channels)).resize((W, H), Image.Resampling.BILINEAR)
        return np.asarray(out, np.float32).reshape(H, W, channels) / 255.0
    g = np.asarray(im, np.float32 if wide == "F" else np.float64)
    scale = _WIDE_SCALE[wide]
    lo, hi = float(g.min()), float(g.max())
    if not (0 <= lo and hi <= scale):  # NaN fails too
        what = "float image with values" if wide == "F" else "32-bit integer image with values"
        raise NasError(
            f"{source}: a {what} in [{lo:g}, {hi:g}]; mode {im.mode} must lie in [0, {scale:g}] "
            "(save it as 8- or 16-bit, or as floats in [0, 1])"
        )
    g = np.asarray(
        Image.fromarray((g / scale).astype(np.float32), "F").resize((W, H), Image.Resampling.BILINEAR)
    )
    g = np.clip(g, 0.0, 1.0)[..., None]
    if channels == 1:
        return g
    rgb = np.repeat(g, 3, axis=-1)
    return rgb if channels == 3 else np.concatenate([rgb, np.ones_like(g)], axis=-1)


def _reason(f: Path, e: BaseException) -> str:
    try:
        if f.stat().st_size == 0:
            return "zero bytes"
    except OSError:
        pass
    if type(e).__name__ == "UnidentifiedImageError":
        return "not an image Pillow can read"
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def read_images(
    files: list[Path], *, size: tuple[int, int], channels: int, field: str, skip_unreadable: bool = False
) -> Read:
    """The images of ``files`` (module docstring); an unreadable one stops with one line
    naming it unless ``skip_unreadable``."""
    from PIL import Image, UnidentifiedImageError

    H, W = size
    xs = np.empty((len(files), H, W, channels), np.float32)
    kept: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for f in files:
        try:
            with Image.open(f) as im:
                xs[len(kept)] = pixels(
                    im, size=size, channels=channels, source=f"field '{field}': image '{f}'"
                )
        except NasError:
            raise  # readable, but its values do not fit its mode
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            reason = _reason(Path(f), e)
            if not skip_unreadable:
                raise NasError(
                    f"field '{field}': image '{f}' cannot be read ({reason}); remove it, or set "
                    "data.skip_unreadable: true to skip unreadable images"
                ) from None
            skipped.append((str(f), f"unreadable ({reason})"))
            continue
        kept.append(Path(f))
    return Read(xs[: len(kept)], kept, skipped)


def list_folder(path: Path, classes: list[str] | None, *, field: str):
    """``(files with class ids, class names, skipped)`` of a folder with one sub-folder per
    class (sorted names are the ids), or of a flat folder of images (ids -1).  Files that
    are not images by their suffix are skipped and listed."""
    subdirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = [d.name for d in subdirs]
    files: list[tuple[Path, int]] = []
    skipped: list[tuple[str, str]] = []

    def take(folder: Path, label: int) -> None:
        for f in sorted(folder.iterdir()):
            if f.name.startswith(".") or f.is_dir():
                continue
            if f.suffix.lower() in IMAGE_SUFFIXES:
                files.append((f, label))
            else:
                skipped.append((str(f), f"not an image ({f.suffix or 'no suffix'})"))

    for d in subdirs:
        if d.name not in classes:
            raise NasError(
                f"field '{field}': class folder '{d}' is not one of the training classes {classes}"
            )
        take(d, classes.index(d.name))
    if not subdirs:  # a flat folder of images (prediction)
        take(path, -1)
    else:
        skipped += [(str(f), "not in a class folder") for f in sorted(path.iterdir()) if f.is_file()
                    and not f.name.startswith(".")]  # fmt: skip
    if not files:
        raise NasError(f"field '{field}': '{path}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files, classes, skipped
