"""A frame's preview, a small JPEG, made where it costs the render least.

PNG and JPEG frames are previewed with Pillow on the uploader thread, while the next frame
renders: Pillow needs no bpy, so the render thread goes straight on to the next frame (it
used to spend about 8 ms a frame on the preview, on the job's critical path). Formats Pillow
does not read (OpenEXR) are previewed with bpy's image API (blender_thumbnail.py), which must
run on the render thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

#: Pillow refuses images past its decompression-bomb bound (179 Mpx); the frames here are our
#: own Blender's, bounded by the worker's own limit (blender_runner.MAX_FRAME_PIXELS, 16k x 16k).
Image.MAX_IMAGE_PIXELS = 16384 * 16384

THUMBNAIL_MAX_SIDE = 256
THUMBNAIL_QUALITY = 80
#: Frame formats (by extension) Pillow decodes: their previews are made off the render thread.
OFF_RENDER_THREAD = frozenset({"png", "jpg"})
_SIXTEEN_BIT_GRAY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


def thumbnail_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The preview's size: the frame scaled to ``max_side`` on its longer side, never up."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def write_with_pillow(
    frame_path: Path,
    thumbnail_path: Path,
    *,
    max_side: int = THUMBNAIL_MAX_SIDE,
    quality: int = THUMBNAIL_QUALITY,
) -> Path:
    """A JPEG of ``frame_path`` (PNG or JPEG, 8 or 16 bits, any channels), on any thread.
    Alpha is dropped, as bpy drops it when it writes a JPEG."""
    with Image.open(frame_path) as image:
        size = thumbnail_size(image.width, image.height, max_side)
        image.draft("RGB", size)  # a JPEG decodes at a fraction of its size: much less work
        pixels = _eight_bit(image)
        if pixels.size != size:
            pixels = pixels.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        pixels.save(thumbnail_path, "JPEG", quality=quality)
    return thumbnail_path


def _eight_bit(image: Image.Image) -> Image.Image:
    """RGB or gray at 8 bits: what a JPEG holds."""
    if image.mode in _SIXTEEN_BIT_GRAY:
        return image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    if image.mode in {"RGB", "L"}:
        return image
    return image.convert("L" if image.mode == "LA" else "RGB")


def thumbnail_path(frame_path: Path) -> Path:
    """Where a frame's preview is written: beside it."""
    return frame_path.with_name(f"{frame_path.stem}.thumb.jpg")


@dataclass(frozen=True)
class FrameThumbnails:
    """A replica's previews: Pillow's off the render thread for the formats it reads, bpy's
    on it for the others."""

    #: bpy's preview (blender_thumbnail.write_thumbnail): on the render thread only, and its
    #: failures are Blender's.
    in_blender: Callable[[Path, Path], Path]

    @staticmethod
    def on_render_thread(frame_path: Path) -> bool:
        """Whether this frame's preview is made on the render thread (with bpy)."""
        return frame_path.suffix.removeprefix(".") not in OFF_RENDER_THREAD

    def in_render_thread(self, frame_path: Path) -> Path | None:
        """bpy's preview of a frame Pillow does not read; None for the others."""
        if not self.on_render_thread(frame_path):
            return None
        return self.in_blender(frame_path, thumbnail_path(frame_path))

    def off_render_thread(self, frame_path: Path) -> Path | None:
        """Pillow's preview, on any thread; None for a frame previewed on the render thread, and
        when it cannot be made: the frame is still the frame, so its chunk goes on, and the
        dashboard shows no preview for it."""
        if self.on_render_thread(frame_path):
            return None
        try:
            return write_with_pillow(frame_path, thumbnail_path(frame_path))
        except (OSError, ValueError) as error:  # Pillow's decode errors are OSErrors
            log.warning("no preview of %s: %s", frame_path.name, error)
            return None
