"""Every Pillow mode an image folder can hold maps to the task's channels with its own value
range (supernet/tasks/image_files.py), checked against a hand-computed pixel per mode.

Files are written by Pillow into tmp_path at 2x2 (the task's size, so no resampling) and read
back through the task's reader.  Hand arithmetic: luma L = (299 R + 587 G + 114 B) / 1000
rounded; CMYK -> RGB = (255 - C)(255 - K) / 255 rounded; no alpha = opaque; a palette's
transparent entry has alpha 0; 16-bit by 65,535."""

from __future__ import annotations

import re

import numpy as np
import pytest

from search_spaces import NasError
from supernet.tasks.image_classification import read_images

RGB = (200, 100, 50)
LUMA = round((299 * 200 + 587 * 100 + 114 * 50) / 1000)  # 124


def _palette(transparent: bool):
    from PIL import Image

    im = Image.new("P", (2, 2))
    im.putpalette([0, 0, 0, *RGB] * 128)
    im.putpixel((0, 0), 1)
    return im, ({"transparency": 1} if transparent else {})


def _make(mode: str):
    """(image, save options, suffix) with the pixel at (0, 0) as the expectations say."""
    from PIL import Image

    if mode == "P":
        return (*_palette(False), ".png")
    if mode == "P+transparency":
        return (*_palette(True), ".png")
    if mode == "I;16":
        return Image.fromarray(np.full((2, 2), 30000, np.uint16)), {}, ".png"
    if mode == "I":
        return Image.fromarray(np.full((2, 2), 40000, np.int32)), {}, ".tif"
    if mode == "F":
        return Image.fromarray(np.full((2, 2), 0.25, np.float32)), {}, ".tif"
    value = {"1": 1, "L": 100, "LA": (100, 50), "RGB": RGB, "RGBA": (*RGB, 30), "CMYK": (10, 20, 30, 40)}[
        mode
    ]
    return Image.new(mode, (2, 2), value), {}, ".tif" if mode == "CMYK" else ".png"


CMYK_RGB = tuple(round((255 - c) * (255 - 40) / 255) for c in (10, 20, 30))  # (207, 198, 190)
CMYK_L = round((299 * CMYK_RGB[0] + 587 * CMYK_RGB[1] + 114 * CMYK_RGB[2]) / 1000)  # 200

# mode -> the pixel for 1, 3 and 4 channels, in 0..255 units (16-bit and float: exact fractions)
EXPECTED = {
    "1": ((255,), (255, 255, 255), (255, 255, 255, 255)),
    "L": ((100,), (100, 100, 100), (100, 100, 100, 255)),
    "LA": ((100,), (100, 100, 100), (100, 100, 100, 50)),
    "P": ((LUMA,), RGB, (*RGB, 255)),
    "P+transparency": ((LUMA,), RGB, (*RGB, 0)),
    "RGB": ((LUMA,), RGB, (*RGB, 255)),
    "RGBA": ((LUMA,), RGB, (*RGB, 30)),
    "CMYK": ((CMYK_L,), CMYK_RGB, (*CMYK_RGB, 255)),
    "I;16": ((30000 / 65535 * 255,), (30000 / 65535 * 255,) * 3, (*(30000 / 65535 * 255,) * 3, 255)),
    "I": ((40000 / 65535 * 255,), (40000 / 65535 * 255,) * 3, (*(40000 / 65535 * 255,) * 3, 255)),
    "F": ((0.25 * 255,), (0.25 * 255,) * 3, (*(0.25 * 255,) * 3, 255)),
}


def _task(channels: int) -> dict:
    return {
        "kind": "vit",
        "image_size": 2,
        "patch_size": 1,
        "channels": channels,
        "num_classes": 2,
        "head_dim": 4,
    }


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_each_mode_maps_to_the_channels_with_its_own_range(mode, tmp_path):
    from PIL import Image

    im, opts, suffix = _make(mode)
    path = tmp_path / f"x{suffix}"
    im.save(path, **opts)
    with Image.open(path) as back:  # the file holds the mode under test
        assert back.mode == mode.split("+")[0] and ("transparency" in back.info) == mode.endswith(
            "transparency"
        )
    for channels, want in zip((1, 3, 4), EXPECTED[mode], strict=True):
        got = read_images([path], _task(channels), field="data.train")
        assert got.shape == (1, 2, 2, channels) and got.dtype == np.float32
        np.testing.assert_allclose(
            got[0, 0, 0], np.asarray(want) / 255.0, atol=1e-6, err_msg=f"{mode} {channels}"
        )


@pytest.mark.parametrize(
    ("array", "suffix", "message"),
    [
        (np.full((2, 2), 70000, np.int32), ".tif", "32-bit integer image with values in [70000, 70000]"),
        (np.full((2, 2), 2.0, np.float32), ".tif", "float image with values in [2, 2]"),
    ],
)
def test_values_outside_a_wide_mode_range_are_one_line(array, suffix, message, tmp_path):
    from PIL import Image

    path = tmp_path / f"x{suffix}"
    Image.fromarray(array).save(path)
    with pytest.raises(NasError, match=re.escape(f"field 'data.train': image '{path}': a {message}")):
        read_images([path], _task(1), field="data.train")
