"""A small JPEG preview of a rendered frame, made with bpy's image API (no Pillow: bpy already
reads every output format we write, EXR included, and Pillow would add a dependency)."""

from __future__ import annotations

from pathlib import Path

import bpy

THUMBNAIL_MAX_SIDE = 256
THUMBNAIL_QUALITY = 80


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
        scale = min(1.0, max_side / max(width, height))
        image.scale(max(1, round(width * scale)), max(1, round(height * scale)))
        image.file_format = "JPEG"
        image.save(filepath=str(thumbnail_path), quality=quality)
    finally:
        bpy.data.images.remove(image)
    return thumbnail_path
