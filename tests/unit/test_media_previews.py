"""The contact sheet's layout and the video's size, shared by the farm and the CLI."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from renderfarm_media.previews import (
    MAX_SHEET_SIDE,
    MAX_TILE_WIDTH,
    MIN_COLUMNS,
    Labelled,
    sheet_layout,
    video_size,
    write_previews,
)


def test_a_short_job_is_one_row_of_full_size_tiles() -> None:
    layout = sheet_layout(5, (1920, 1080))
    assert (layout.columns, layout.rows, layout.tile_width, layout.tile_height) == (5, 1, 160, 90)


def test_up_to_eight_columns_then_about_square() -> None:
    assert sheet_layout(10, (320, 240)).columns == MIN_COLUMNS
    layout = sheet_layout(400, (1920, 1080))
    width, height = layout.size
    assert 0.5 < width / height < 2


@pytest.mark.parametrize("count", [1, 999, 10_000, 100_000])
def test_the_sheet_never_outgrows_its_bound(count: int) -> None:
    layout = sheet_layout(count, (3840, 2160))
    assert max(layout.size) <= MAX_SHEET_SIDE
    assert layout.tile_width <= MAX_TILE_WIDTH
    assert layout.columns * layout.rows >= count


def test_tiny_frames_are_not_scaled_up() -> None:
    layout = sheet_layout(3, (64, 32))
    assert (layout.tile_width, layout.tile_height) == (64, 32)


@pytest.mark.parametrize(
    ("frame", "video"),
    [
        ((1920, 1080), (1280, 720)),
        ((321, 241), (320, 240)),
        ((1, 1), (2, 2)),
        ((720, 1280), (404, 720)),
    ],
)
def test_video_size_fits_720p_with_even_sides(
    frame: tuple[int, int], video: tuple[int, int]
) -> None:
    assert video_size(frame) == video


def test_frames_stream_into_both_previews(tmp_path: Path) -> None:
    frames = (
        Labelled(label=str(n), image=Image.new("RGB", (64, 48), (n * 9, 0, 0))) for n in range(30)
    )
    sheet, video = tmp_path / "s.png", tmp_path / "v.mp4"
    assert write_previews(frames, 30, contact_sheet=sheet, video=video) == 30
    with Image.open(sheet) as image:
        assert image.size == sheet_layout(30, (64, 48)).size
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 30


def test_no_frames_no_files(tmp_path: Path) -> None:
    assert write_previews([], 0, contact_sheet=tmp_path / "s.png", video=tmp_path / "v.mp4") == 0
    assert not list(tmp_path.iterdir())
