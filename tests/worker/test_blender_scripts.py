"""Untrusted .blend files: nothing in them runs Python in the worker."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import bpy
import pytest

from containerapp_worker.blender_runner import BlenderRunner
from renderfarm.shared.render_settings import RenderSettings
from testbed import scenes


@dataclass(frozen=True, kw_only=True)
class ScriptedScene:
    blend: Path
    text_marker: Path
    driver_marker: Path


@pytest.fixture
def scripted(tmp_path: Path) -> ScriptedScene:
    text_marker, driver_marker = tmp_path / "text-ran", tmp_path / "driver-ran"
    blend = scenes.build_scripted_scene(
        tmp_path / "scripted.blend", text_marker=text_marker, driver_marker=driver_marker
    )
    assert not text_marker.exists() and not driver_marker.exists()
    return ScriptedScene(blend=blend, text_marker=text_marker, driver_marker=driver_marker)


def _open_and_render(runner: BlenderRunner, scene: ScriptedScene, tmp_path: Path) -> None:
    runner.open_scene(scene.blend)
    runner.apply(RenderSettings())
    for frame in scenes.FRAMES:
        runner.render_frame(frame, tmp_path / f"{frame}.png")


def test_auto_run_text_block_never_runs(
    runner: BlenderRunner, scripted: ScriptedScene, tmp_path: Path
) -> None:
    _open_and_render(runner, scripted, tmp_path)
    assert not scripted.text_marker.exists()


def test_python_driver_never_runs_while_frames_render(
    runner: BlenderRunner, scripted: ScriptedScene, tmp_path: Path
) -> None:
    _open_and_render(runner, scripted, tmp_path)
    assert not scripted.driver_marker.exists()
    assert bpy.app.autoexec_fail, "Blender should have refused the driver's expression"


def test_the_same_scene_runs_both_scripts_when_scripts_are_allowed(
    scripted: ScriptedScene,
) -> None:
    """The control: proves the markers above stay absent because of the runner, not the scene."""
    allow_scripts = textwrap.dedent(
        f"""
        import bpy
        bpy.context.preferences.filepaths.use_scripts_auto_execute = True
        bpy.ops.wm.open_mainfile(filepath={str(scripted.blend)!r}, use_scripts=True)
        bpy.context.scene.frame_set(2)
        """
    )
    subprocess.run([sys.executable, "-c", allow_scripts], check=True, capture_output=True)
    assert scripted.text_marker.exists()
    assert scripted.driver_marker.exists()


def test_opening_a_scene_leaves_auto_execution_off(
    runner: BlenderRunner, scripted: ScriptedScene
) -> None:
    bpy.context.preferences.filepaths.use_scripts_auto_execute = True
    runner.open_scene(scripted.blend)
    assert bpy.context.preferences.filepaths.use_scripts_auto_execute is False


def test_opening_a_scene_drops_functions_added_to_the_driver_namespace(
    runner: BlenderRunner, cycles_blend: Path
) -> None:
    bpy.app.driver_namespace["planted"] = print
    runner.open_scene(cycles_blend)
    assert "planted" not in bpy.app.driver_namespace
