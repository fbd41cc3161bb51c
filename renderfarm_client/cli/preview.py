"""A contact sheet (PNG) and an animated preview (GIF) of a job's frames, made on this machine.

The fallback for a farm that builds no previews of its own (cli.farm_previews takes
the farm's when it does). The contact sheet is drawn as the farm draws it (renderfarm_media).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from renderfarm_media.previews import (
    CONTACT_SHEET_NAME,
    READABLE_EXTENSIONS,
    ContactSheet,
    Labelled,
    sheet_layout,
)

PREVIEW_NAME = "preview.gif"
#: Formats Pillow reads; EXR frames get no preview.
PREVIEWABLE_SUFFIXES = frozenset(f".{extension}" for extension in READABLE_EXTENSIONS)
MAX_GIF_WIDTH = 480
DEFAULT_FPS = 24


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
    """A grid of tiles, each labelled with its file's stem (the frame number)."""
    sheet = ContactSheet(sheet_layout(len(frames), _open_rgb(frames[0]).size))
    for path in frames:
        sheet.add(Labelled(label=path.stem.lstrip("0") or "0", image=_open_rgb(path)))
    sheet.save(target)


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
