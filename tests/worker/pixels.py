"""Decode rendered images to pixels with bpy, so tests compare pictures, not file bytes."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.float32]


def decode(path: Path) -> Pixels:
    """The image at ``path`` as rows x columns x RGBA floats, top row first.

    Byte formats decode to value/255; float formats (EXR) to their stored linear values.
    """
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = image.size
        flat = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(flat)
    finally:
        bpy.data.images.remove(image)
    return flat.reshape(height, width, 4)[::-1]


def rgb_bytes(pixels: Pixels, column: int, row: int) -> tuple[int, int, int]:
    """One pixel's colour as 0..255 integers."""
    r, g, b = (round(float(v) * 255) for v in pixels[row, column, :3])
    return r, g, b
