"""Frames come out of the warm runner with the expected pixels, in every format."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import bpy
import numpy as np
import pytest

from containerapp_worker.blender_runner import BlenderRunner
from containerapp_worker.blender_thumbnail import write_thumbnail
from renderfarm.shared.render_settings import OutputFormat, RenderSettings
from testbed import scenes
from tests.worker.pixels import decode, rgb_bytes

RED = (255, 0, 0)
BLACK = (0, 0, 0)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _render(
    runner: BlenderRunner, blend: Path, out: Path, settings: RenderSettings, frame: int = 1
) -> Path:
    runner.open_scene(blend)
    runner.apply(settings)
    return runner.render_frame(frame, out)


def test_frames_show_the_square_where_the_animation_puts_it(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    runner.open_scene(cycles_blend)
    runner.apply(RenderSettings())
    first = decode(runner.render_frame(1, tmp_path / "1.png"))
    last = decode(runner.render_frame(3, tmp_path / "3.png"))

    assert first.shape == (scenes.SIZE, scenes.SIZE, 4)
    assert rgb_bytes(first, *scenes.RED_AT_FRAME_1) == RED
    assert rgb_bytes(first, *scenes.RED_AT_FRAME_3) == BLACK
    assert rgb_bytes(last, *scenes.RED_AT_FRAME_1) == BLACK
    assert rgb_bytes(last, *scenes.RED_AT_FRAME_3) == RED
    assert rgb_bytes(first, *scenes.BACKGROUND_PIXEL) == BLACK


def test_a_frame_has_the_same_pixels_when_rendered_again_in_another_process(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    here = decode(_render(runner, cycles_blend, tmp_path / "here.png", RenderSettings(), frame=2))
    again = decode(runner.render_frame(2, tmp_path / "again.png"))
    elsewhere_path = tmp_path / "elsewhere.png"
    render_elsewhere = textwrap.dedent(
        f"""
        from pathlib import Path
        from containerapp_worker.blender_runner import BlenderRunner
        from renderfarm.shared.render_settings import RenderSettings
        runner = BlenderRunner()
        runner.open_scene(Path({str(cycles_blend)!r}))
        runner.apply(RenderSettings())
        runner.render_frame(2, Path({str(elsewhere_path)!r}))
        """
    )
    subprocess.run(
        [sys.executable, "-c", render_elsewhere], check=True, capture_output=True, cwd=REPO_ROOT
    )
    elsewhere = decode(elsewhere_path)

    sphere = here[32:, :, :3]
    assert len(np.unique(sphere)) > 10, "the lit sphere should be shaded, not flat"
    assert np.array_equal(here, again)
    assert np.array_equal(here, elsewhere)


def test_apply_overrides_a_files_random_seed_adaptive_sampling_and_denoising(
    runner: BlenderRunner, cycles_blend: Path
) -> None:
    runner.open_scene(cycles_blend)
    cycles = bpy.context.scene.cycles
    cycles.seed, cycles.use_animated_seed = 7, True
    cycles.use_adaptive_sampling, cycles.use_denoising = True, True
    runner.apply(RenderSettings())
    assert (cycles.seed, cycles.use_animated_seed) == (0, False)
    assert (cycles.use_adaptive_sampling, cycles.use_denoising) == (False, False)


@pytest.mark.parametrize(
    ("output_format", "magic"),
    [
        (OutputFormat.PNG, b"\x89PNG"),
        (OutputFormat.JPEG, b"\xff\xd8\xff"),
        (OutputFormat.OPEN_EXR, b"v/1\x01"),
    ],
)
def test_each_output_format_writes_that_format_with_the_frames_pixels(
    runner: BlenderRunner,
    cycles_blend: Path,
    tmp_path: Path,
    output_format: OutputFormat,
    magic: bytes,
) -> None:
    out = tmp_path / f"frame.{output_format.extension}"
    _render(runner, cycles_blend, out, RenderSettings(output_format=output_format))
    pixels = decode(out)

    assert out.read_bytes().startswith(magic)
    assert pixels.shape == (scenes.SIZE, scenes.SIZE, 4)
    column, row = scenes.RED_AT_FRAME_1
    assert np.allclose(pixels[row, column, :3], (1.0, 0.0, 0.0), atol=0.05)  # JPEG is lossy


def test_resolution_and_percentage_set_the_frame_size(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    out = _render(
        runner,
        cycles_blend,
        tmp_path / "sized.png",
        RenderSettings(resolution_x=48, resolution_y=40, resolution_percentage=50),
    )
    assert decode(out).shape == (20, 24, 4)


def test_samples_set_the_cycles_sample_count(runner: BlenderRunner, cycles_blend: Path) -> None:
    runner.open_scene(cycles_blend)
    runner.apply(RenderSettings(samples=3))
    assert bpy.context.scene.cycles.samples == 3


def test_scene_by_name_renders_that_scene(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    out = _render(
        runner, cycles_blend, tmp_path / "small.png", RenderSettings(scene=scenes.SMALL_SCENE)
    )
    size = scenes.SMALL_SCENE_SIZE
    assert decode(out).shape == (size, size, 4)


def test_camera_by_name_renders_from_that_camera(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    out = _render(
        runner, cycles_blend, tmp_path / "side.png", RenderSettings(camera=scenes.SIDE_CAMERA)
    )
    assert rgb_bytes(decode(out), *scenes.RED_AT_FRAME_1) == BLACK


def test_thumbnail_is_a_small_jpeg_of_the_frame(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    frame = _render(
        runner,
        cycles_blend,
        tmp_path / "frame.exr",
        RenderSettings(output_format=OutputFormat.OPEN_EXR),
    )
    thumbnail = write_thumbnail(frame, tmp_path / "thumb.jpg", max_side=16)
    pixels = decode(thumbnail)

    assert thumbnail.read_bytes().startswith(b"\xff\xd8\xff")
    assert pixels.shape == (16, 16, 4)
    column, row = (c // 4 for c in scenes.RED_AT_FRAME_1)
    assert np.allclose(pixels[row, column, :3], (1.0, 0.0, 0.0), atol=0.1)


def test_other_threads_run_while_a_frame_renders(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    """bpy releases the GIL in render: uploads and lock renewal proceed meanwhile."""
    runner.open_scene(cycles_blend)
    runner.apply(RenderSettings(resolution_x=256, resolution_y=256, samples=64))
    rendering, stop = threading.Event(), threading.Event()
    ticks_during_render: list[int] = []

    def tick() -> None:
        while not stop.wait(0.001):
            if rendering.is_set():
                ticks_during_render.append(1)

    def on_render_pre(*_: object) -> None:
        rendering.set()

    def on_render_post(*_: object) -> None:
        rendering.clear()

    ticker = threading.Thread(target=tick)
    bpy.app.handlers.render_pre.append(on_render_pre)
    bpy.app.handlers.render_post.append(on_render_post)
    ticker.start()
    try:
        runner.render_frame(1, tmp_path / "busy.png")
    finally:
        stop.set()
        ticker.join()
        bpy.app.handlers.render_pre.remove(on_render_pre)
        bpy.app.handlers.render_post.remove(on_render_post)
    assert len(ticks_during_render) > 5
