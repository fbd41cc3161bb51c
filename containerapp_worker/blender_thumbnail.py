"""A small JPEG preview of a rendered frame, made with bpy's image API: for the formats Pillow
does not read (OpenEXR; frame_thumbnails.py makes the others' off the render thread)."""

from __future__ import annotations

from pathlib import Path

import bpy

from containerapp_worker.frame_thumbnails import (
    THUMBNAIL_MAX_SIDE,
    THUMBNAIL_QUALITY,
    thumbnail_size,
)


def write_thumbnail(
    frame_path: Path,
    thumbnail_path: Path,
    *,
    max_side: int = THUMBNAIL_MAX_SIDE,
    quality: int = THUMBNAIL_QUALITY,
) -> Path:
    """Write a JPEG of ``frame_path`` no larger than ``max_side`` on its longer side.

    Call it from the thread that renders: bpy's data is not thread-safe.
    """
    image = bpy.data.images.load(str(frame_path), check_existing=False)
    try:
        width, height = image.size
        image.scale(*thumbnail_size(width, height, max_side))
        image.file_format = "JPEG"
        image.save(filepath=str(thumbnail_path), quality=quality)
    finally:
        bpy.data.images.remove(image)
    return thumbnail_path
