"""Previews of rendered frames: a labelled contact sheet (PNG) and an H.264 video (MP4).

Shared by the farm's preview builder (renderfarm_azure.previews, in the Functions app) and the
CLI's fallback for a farm that builds none (renderfarm_client.cli.preview). Both take the frames
one at a time, so a long job's frames are never all in memory: each is pasted into the sheet as a
tile and encoded into the video, then dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

import av
from PIL import Image, ImageDraw, ImageFont

CONTACT_SHEET_NAME = "contact-sheet.png"
VIDEO_NAME = "preview.mp4"
#: Extensions of the farm's output formats that Pillow opens (EXR it does not).
READABLE_EXTENSIONS = frozenset({"png", "jpg", "jpeg"})
MAX_TILE_WIDTH = 160
MIN_TILE_WIDTH = 16
#: Up to this many frames, one row: a short job reads left to right.
MIN_COLUMNS = 8
#: A long job's tiles shrink so the sheet stays at most this wide and tall.
MAX_SHEET_SIDE = 8192
#: Tiles narrower than this get no label (a frame number would not fit).
MIN_LABELLED_WIDTH = 40
LABEL_HEIGHT = 14
GAP = 4
VIDEO_FPS = 24
MAX_VIDEO_SIZE = (1280, 720)
VIDEO_CODEC: Final = "libx264"
VIDEO_PIXEL_FORMAT = "yuv420p"  # what every player decodes; needs even width and height
VIDEO_CRF = "23"


@dataclass(frozen=True, kw_only=True)
class Labelled:
    """A frame's image and the label under its tile (its frame number)."""

    label: str
    image: Image.Image


@dataclass(frozen=True, kw_only=True)
class SheetLayout:
    count: int
    columns: int
    tile_width: int
    tile_height: int
    label_height: int

    @property
    def rows(self) -> int:
        return math.ceil(self.count / self.columns)

    @property
    def size(self) -> tuple[int, int]:
        cell_height = self.tile_height + self.label_height
        return (
            self.columns * (self.tile_width + GAP) + GAP,
            self.rows * (cell_height + GAP) + GAP,
        )

    def origin(self, position: int) -> tuple[int, int]:
        """Top-left corner of the ``position``-th tile."""
        column, row = position % self.columns, position // self.columns
        cell_height = self.tile_height + self.label_height
        return GAP + column * (self.tile_width + GAP), GAP + row * (cell_height + GAP)


def sheet_layout(count: int, frame_size: tuple[int, int]) -> SheetLayout:
    """Tiles of the frames' aspect, in a grid about as wide as tall, no side over MAX_SHEET_SIDE."""
    if count < 1:
        raise ValueError("a contact sheet needs at least one frame")
    width, height = frame_size
    tile_width = min(MAX_TILE_WIDTH, width)
    while True:
        tile_height = max(1, round(height * tile_width / width))
        label = LABEL_HEIGHT if tile_width >= MIN_LABELLED_WIDTH else 0
        square = math.ceil(math.sqrt(count * (tile_height + label + GAP) / (tile_width + GAP)))
        layout = SheetLayout(
            count=count,
            columns=max(min(MIN_COLUMNS, count), square),
            tile_width=tile_width,
            tile_height=tile_height,
            label_height=label,
        )
        if max(layout.size) <= MAX_SHEET_SIDE or tile_width <= MIN_TILE_WIDTH:
            return layout
        tile_width = max(MIN_TILE_WIDTH, tile_width * 3 // 4)


class ContactSheet:
    """Every frame as a labelled tile, in the order added."""

    def __init__(self, layout: SheetLayout):
        self.layout = layout
        self._sheet = Image.new("RGB", layout.size, "black")
        self._draw = ImageDraw.Draw(self._sheet)
        self._font = ImageFont.load_default()
        self._added = 0

    def add(self, frame: Labelled) -> None:
        layout = self.layout
        if self._added >= layout.count:
            raise ValueError(f"the sheet has room for {layout.count} frames")
        x, y = layout.origin(self._added)
        tile = frame.image.convert("RGB").resize(
            (layout.tile_width, layout.tile_height), Image.Resampling.LANCZOS
        )
        self._sheet.paste(tile, (x, y))
        if layout.label_height:
            self._draw.text(
                (x + 2, y + layout.tile_height + 1), frame.label, fill="white", font=self._font
            )
        self._added += 1

    def save(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self._sheet.save(target, format="PNG")


def video_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    """The frame's size scaled down into MAX_VIDEO_SIZE, both sides even (yuv420p needs it)."""
    width, height = frame_size
    scale = min(1.0, MAX_VIDEO_SIZE[0] / width, MAX_VIDEO_SIZE[1] / height)
    return (
        max(2, int(width * scale) // 2 * 2),
        max(2, int(height * scale) // 2 * 2),
    )


class PreviewVideo:
    """An H.264 MP4 at VIDEO_FPS, one video frame per frame added. Use as a context manager."""

    def __init__(self, target: Path, frame_size: tuple[int, int], *, fps: int = VIDEO_FPS):
        target.parent.mkdir(parents=True, exist_ok=True)
        self.size = video_size(frame_size)
        # faststart: the index goes first, so a browser plays the video as it downloads.
        self._container = av.open(
            str(target), mode="w", format="mp4", options={"movflags": "faststart"}
        )
        self._stream = self._container.add_stream(VIDEO_CODEC, rate=fps)
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = VIDEO_PIXEL_FORMAT
        self._stream.options = {"crf": VIDEO_CRF, "preset": "veryfast"}

    def add(self, image: Image.Image) -> None:
        rgb = image.convert("RGB")
        if rgb.size != self.size:
            rgb = rgb.resize(self.size, Image.Resampling.LANCZOS)
        # PyAV's stubs leave from_image untyped; it returns a VideoFrame.
        frame: av.VideoFrame = av.VideoFrame.from_image(rgb)  # type: ignore[no-untyped-call]
        frame = frame.reformat(format=VIDEO_PIXEL_FORMAT)
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and write the MP4's index."""
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def __enter__(self) -> PreviewVideo:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._container.close()  # the caller throws the half-written file away


def write_previews(
    frames: Iterable[Labelled], count: int, *, contact_sheet: Path | None, video: Path | None
) -> int:
    """Stream ``count`` frames into the contact sheet and the video (either may be None); the
    first frame sets the tiles' aspect and the video's size. Returns the frames written."""
    remaining = iter(frames)
    first = next(remaining, None)
    if first is None:
        return 0
    sheet = ContactSheet(sheet_layout(count, first.image.size)) if contact_sheet else None
    written = 0
    with contextlib.ExitStack() as stack:
        movie = stack.enter_context(PreviewVideo(video, first.image.size)) if video else None
        for frame in itertools.chain([first], remaining):
            if sheet is not None:
                sheet.add(frame)
            if movie is not None:
                movie.add(frame.image)
            written += 1
    if sheet is not None and contact_sheet is not None:
        sheet.save(contact_sheet)
    return written
