"""Small .blend files for the tests: testbed/scenes.py's builders and the facts of its scenes,
under the names the tests import (bench/ builds the same scenes from testbed)."""

from __future__ import annotations

from testbed.scenes import (
    BACKGROUND_PIXEL,
    BLEND_5_3_HEADER,
    CAMERA,
    FRAMES,
    RED_AT_FRAME_1,
    RED_AT_FRAME_3,
    SIDE_CAMERA,
    SIZE,
    SMALL_SCENE,
    SMALL_SCENE_SIZE,
    build_cameraless_scene,
    build_cycles_scene,
    build_scripted_scene,
    build_unrenderable_scene,
    whole_blend,
    write_corrupt_blend,
)

__all__ = [
    "BACKGROUND_PIXEL",
    "BLEND_5_3_HEADER",
    "CAMERA",
    "FRAMES",
    "RED_AT_FRAME_1",
    "RED_AT_FRAME_3",
    "SIDE_CAMERA",
    "SIZE",
    "SMALL_SCENE",
    "SMALL_SCENE_SIZE",
    "build_cameraless_scene",
    "build_cycles_scene",
    "build_scripted_scene",
    "build_unrenderable_scene",
    "whole_blend",
    "write_corrupt_blend",
]
