"""The closing summary's arithmetic, and the previews written from frames on disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from renderfarm_client.cli.preview import write_previews
from renderfarm_client.farm_api import ChunkProgress
from renderfarm_client.summary import summarize

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chunk(index: int, start_s: float | None, end_s: float | None) -> ChunkProgress:
    return ChunkProgress(
        index=index,
        state="done",
        frames_total=2,
        frames_done=2,
        attempts=1,
        last_error=None,
        blender_version=None,
        started_at=None if start_s is None else T0 + timedelta(seconds=start_s),
        finished_at=None if end_s is None else T0 + timedelta(seconds=end_s),
    )


def test_overhead_is_wall_time_when_no_worker_was_rendering() -> None:
    chunks = [chunk(0, 2, 6), chunk(1, 3, 8), chunk(2, 10, 12)]  # busy 2-8 and 10-12
    summary = summarize(frames=6, wall_s=15.0, chunks=chunks)
    assert summary.render_s == 4 + 5 + 2
    assert summary.rendering_span_s == 8
    assert summary.overhead_s == 7
    assert round(summary.overhead_share, 3) == round(7 / 15, 3)


def test_chunks_without_both_times_do_not_count_as_rendering() -> None:
    summary = summarize(frames=2, wall_s=5.0, chunks=[chunk(0, 1, None), chunk(1, None, None)])
    assert summary.render_s == 0
    assert summary.overhead_s == 5


def _frame(path: Path, shade: int) -> Path:
    Image.new("RGB", (320, 240), (shade, 0, 255 - shade)).save(path)
    return path


def test_previews_hold_every_frame_in_order(tmp_path: Path) -> None:
    frames = [_frame(tmp_path / f"{n:06d}.png", n * 20) for n in (3, 1, 2, 4, 5, 6, 7, 8, 9, 10)]
    preview = write_previews(frames, tmp_path / "out")
    assert preview is not None
    with Image.open(preview.contact_sheet) as sheet:
        assert sheet.format == "PNG"
        assert sheet.width > sheet.height  # 8 columns, 2 rows of 160x120 thumbnails
        # the first cell is frame 1 (the reddest), whatever order the files came in
        red, _, blue = sheet.getpixel((40, 40))  # type: ignore[misc]
        assert red < blue
    with Image.open(preview.animation) as gif:
        assert gif.format == "GIF"
        assert getattr(gif, "n_frames", 1) == len(frames)
        assert gif.size == (320, 240)


def test_frames_pillow_cannot_read_get_no_preview(tmp_path: Path) -> None:
    exr = tmp_path / "000001.exr"
    exr.write_bytes(b"v/1\x01")
    assert write_previews([exr], tmp_path / "out") is None
