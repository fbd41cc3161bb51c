"""A contact sheet (PNG) and an animated preview (GIF) of a job's frames."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CONTACT_SHEET_NAME = "contact-sheet.png"
PREVIEW_NAME = "preview.gif"
#: Formats Pillow reads; EXR frames get no preview.
PREVIEWABLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
MAX_THUMB_WIDTH = 160
MAX_COLUMNS = 8
MAX_GIF_WIDTH = 480
DEFAULT_FPS = 24
_LABEL_HEIGHT = 14
_GAP = 4


@dataclass(frozen=True, kw_only=True)
class Preview:
    contact_sheet: Path
    animation: Path


def previewable(frames: Sequence[Path]) -> list[Path]:
    return sorted(path for path in frames if path.suffix.lower() in PREVIEWABLE_SUFFIXES)


def write_previews(
    frames: Sequence[Path], out_dir: Path, *, fps: int = DEFAULT_FPS
) -> Preview | None:
    """Both previews from the readable frames, in name order; None when there are none."""
    readable = previewable(frames)
    if not readable:
        return None
    preview = Preview(contact_sheet=out_dir / CONTACT_SHEET_NAME, animation=out_dir / PREVIEW_NAME)
    write_contact_sheet(readable, preview.contact_sheet)
    write_animation(readable, preview.animation, fps=fps)
    return preview


def _open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _scaled(image: Image.Image, max_width: int) -> Image.Image:
    if image.width <= max_width:
        return image
    height = max(1, round(image.height * max_width / image.width))
    return image.resize((max_width, height), Image.Resampling.LANCZOS)


def write_contact_sheet(frames: Sequence[Path], target: Path) -> None:
    """A grid of thumbnails, each labelled with its file's stem (the frame number)."""
    first = _scaled(_open_rgb(frames[0]), MAX_THUMB_WIDTH)
    cell_w, cell_h = first.width, first.height + _LABEL_HEIGHT
    columns = min(MAX_COLUMNS, len(frames))
    rows = math.ceil(len(frames) / columns)
    sheet = Image.new(
        "RGB", (columns * (cell_w + _GAP) + _GAP, rows * (cell_h + _GAP) + _GAP), "black"
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for position, path in enumerate(frames):
        thumb = _open_rgb(path).resize((cell_w, first.height), Image.Resampling.LANCZOS)
        x = _GAP + (position % columns) * (cell_w + _GAP)
        y = _GAP + (position // columns) * (cell_h + _GAP)
        sheet.paste(thumb, (x, y))
        draw.text(
            (x + 2, y + first.height + 1), path.stem.lstrip("0") or "0", fill="white", font=font
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(target, format="PNG")


def write_animation(frames: Sequence[Path], target: Path, *, fps: int = DEFAULT_FPS) -> None:
    """A looping GIF at ``fps``, no wider than MAX_GIF_WIDTH."""
    images = [_scaled(_open_rgb(path), MAX_GIF_WIDTH) for path in frames]
    size = images[0].size
    palette_frames = [
        image.resize(size).quantize(colors=256, method=Image.Quantize.MEDIANCUT) for image in images
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    palette_frames[0].save(
        target,
        format="GIF",
        save_all=True,
        append_images=palette_frames[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
        disposal=1,
    )
