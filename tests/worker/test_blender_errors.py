"""Failures come out as the error that tells the worker to dead-letter or to retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from containerapp_worker.blender_runner import BlenderRunner
from containerapp_worker.errors import (
    FrameError,
    OutputWriteError,
    PoisonError,
    SceneError,
    SettingsError,
    TransientError,
)
from renderfarm.shared.render_settings import RenderSettings
from testbed import scenes


def test_random_bytes_raise_a_scene_error_with_blenders_words(
    runner: BlenderRunner, tmp_path: Path
) -> None:
    corrupt = scenes.write_corrupt_blend(tmp_path / "corrupt.blend", with_header=False)
    with pytest.raises(SceneError) as caught:
        runner.open_scene(corrupt)
    assert isinstance(caught.value, PoisonError)
    assert "File format is not supported" in caught.value.description
    assert any("corrupt.blend" in line for line in caught.value.blender_log)


def test_a_blend_header_over_random_bytes_raises_a_scene_error(
    runner: BlenderRunner, tmp_path: Path
) -> None:
    with pytest.raises(SceneError, match="Missing DNA block"):
        runner.open_scene(scenes.write_corrupt_blend(tmp_path / "corrupt.blend"))


def test_a_text_file_is_not_a_blend(runner: BlenderRunner, tmp_path: Path) -> None:
    text = tmp_path / "notes.blend"
    text.write_text("not a scene\n")
    with pytest.raises(SceneError):
        runner.open_scene(text)


def test_a_truncated_blend_raises_a_scene_error(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.blend"
    whole = cycles_blend.read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SceneError):
        runner.open_scene(truncated)


def test_a_failed_open_leaves_no_previous_scene_to_render(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    runner.open_scene(cycles_blend)
    with pytest.raises(SceneError):
        runner.open_scene(scenes.write_corrupt_blend(tmp_path / "corrupt.blend"))
    with pytest.raises(RuntimeError, match="open_scene"):
        runner.apply(RenderSettings())


def test_a_failed_apply_leaves_nothing_to_render(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    runner.open_scene(cycles_blend)
    runner.apply(RenderSettings())
    with pytest.raises(SettingsError):
        runner.apply(RenderSettings(samples=0))
    with pytest.raises(RuntimeError, match="apply"):
        runner.render_frame(1, tmp_path / "1.png")


def test_a_missing_local_file_is_not_poison(runner: BlenderRunner, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        runner.open_scene(tmp_path / "evicted.blend")


@pytest.mark.parametrize(
    "settings",
    [
        RenderSettings(camera="NoSuchCamera"),
        RenderSettings(camera="RedSquare"),  # an object, but not a camera
        RenderSettings(scene="NoSuchScene"),
    ],
    ids=["unknown-camera", "object-is-not-a-camera", "unknown-scene"],
)
def test_names_the_file_lacks_raise_a_scene_error(
    runner: BlenderRunner, cycles_blend: Path, settings: RenderSettings
) -> None:
    runner.open_scene(cycles_blend)
    with pytest.raises(SceneError):
        runner.apply(settings)


def test_a_scene_without_a_camera_raises_a_scene_error(
    runner: BlenderRunner, tmp_path: Path
) -> None:
    runner.open_scene(scenes.build_cameraless_scene(tmp_path / "cameraless.blend"))
    with pytest.raises(SceneError, match="no camera"):
        runner.apply(RenderSettings())


@pytest.mark.parametrize(
    "settings",
    [
        RenderSettings(resolution_x=0),
        RenderSettings(resolution_y=70_000),
        RenderSettings(resolution_percentage=0),
        RenderSettings(samples=0),
        RenderSettings(resolution_x=65_536, resolution_y=65_536),
    ],
    ids=["zero-width", "too-tall", "zero-percent", "zero-samples", "too-many-pixels"],
)
def test_impossible_settings_raise_a_settings_error(
    runner: BlenderRunner, cycles_blend: Path, settings: RenderSettings
) -> None:
    runner.open_scene(cycles_blend)
    with pytest.raises(SettingsError) as caught:
        runner.apply(settings)
    assert isinstance(caught.value, PoisonError)


def test_a_frame_blender_refuses_raises_a_frame_error_with_the_log(
    runner: BlenderRunner, tmp_path: Path
) -> None:
    runner.open_scene(scenes.build_unrenderable_scene(tmp_path / "unrenderable.blend"))
    runner.apply(RenderSettings())
    with pytest.raises(FrameError) as caught:
        runner.render_frame(1, tmp_path / "1.png")
    assert isinstance(caught.value, PoisonError)
    assert "Image too small" in caught.value.description
    assert any("Image too small" in line for line in caught.value.blender_log)


def test_an_unwritable_output_path_is_transient_not_poison(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("in the way")
    runner.open_scene(cycles_blend)
    runner.apply(RenderSettings())
    with pytest.raises(OutputWriteError) as caught:
        runner.render_frame(1, tmp_path / "a-file" / "1.png")
    assert isinstance(caught.value, TransientError)
    assert not isinstance(caught.value, PoisonError)


def test_a_failed_chunks_log_holds_none_of_an_earlier_jobs_lines(
    runner: BlenderRunner, cycles_blend: Path, tmp_path: Path
) -> None:
    """A replica renders many tenants' jobs: one's error report must not name another's files."""
    earlier = tmp_path / "other-tenants-secret-shot.blend"
    earlier.write_bytes(cycles_blend.read_bytes())
    runner.open_scene(earlier)
    assert any("other-tenants-secret-shot" in line for line in runner.log_tail())
    runner.forget_log()  # what the worker does as each chunk begins
    corrupt = scenes.write_corrupt_blend(tmp_path / "corrupt.blend", with_header=False)
    with pytest.raises(SceneError) as caught:
        runner.open_scene(corrupt)
    assert any("corrupt.blend" in line for line in caught.value.blender_log)
    assert not any("other-tenants-secret-shot" in line for line in caught.value.blender_log)
