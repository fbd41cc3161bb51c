"""Build examples/example.blend: 48 frames at 320x240 of spheres orbiting a glowing pillar.

Cycles with few samples and a fixed seed, so the whole animation renders in seconds on a CPU.
Run with the venv that has bpy 5.0.1:  .venv/bin/python examples/make_example_scene.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import bpy

FRAMES = 48
WIDTH, HEIGHT = 320, 240
SAMPLES = 8
ORBITERS = 5
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "example.blend"


def _material(name: str, color: tuple[float, float, float], *, glow: float = 0.0) -> Any:
    material = bpy.data.materials.new(name)
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.35
    if glow:
        bsdf.inputs["Emission Color"].default_value = (*color, 1.0)
        bsdf.inputs["Emission Strength"].default_value = glow
    return material


def _set_up_scene() -> Any:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Orbit"
    scene.render.engine = "CYCLES"
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.frame_start, scene.frame_end = 1, FRAMES
    cycles = scene.cycles
    cycles.samples = SAMPLES
    cycles.seed = 0
    cycles.use_adaptive_sampling = False
    cycles.use_denoising = False
    cycles.max_bounces = 4
    world = bpy.data.worlds.new("Dusk")
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.02, 0.03, 0.06, 1)
    scene.world = world
    return scene


def _add_floor_and_pillar() -> None:
    bpy.ops.mesh.primitive_plane_add(size=20.0)
    bpy.context.object.data.materials.append(_material("Floor", (0.6, 0.6, 0.65)))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.4, depth=2.5, location=(0.0, 0.0, 1.25))
    bpy.context.object.data.materials.append(_material("Pillar", (1.0, 0.55, 0.15), glow=4.0))


def _add_orbiters() -> None:
    """Spheres on one circle, each a full turn over the animation, bobbing at its own phase."""
    for index in range(ORBITERS):
        hue = index / ORBITERS
        color = (0.5 + 0.5 * math.cos(6.283 * hue), 0.5 + 0.5 * math.cos(6.283 * (hue - 0.33)), 0.8)
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.45, segments=24, ring_count=12)
        sphere = bpy.context.object
        bpy.ops.object.shade_smooth()
        sphere.data.materials.append(_material(f"Orbiter{index}", color))
        for frame in range(1, FRAMES + 1, 4):
            angle = 2 * math.pi * ((frame - 1) / FRAMES + index / ORBITERS)
            height = 0.6 + 0.4 * math.sin(angle * 2 + index)
            sphere.location = (2.5 * math.cos(angle), 2.5 * math.sin(angle), height)
            sphere.keyframe_insert("location", frame=frame)


def _add_lights_and_camera(scene: Any) -> None:
    bpy.ops.object.light_add(type="SUN", rotation=(0.9, 0.2, 0.6))
    bpy.context.object.data.energy = 2.0
    bpy.ops.object.light_add(type="AREA", location=(-3.0, -3.0, 4.0))
    bpy.context.object.data.energy = 300.0
    bpy.context.object.data.size = 2.0
    bpy.ops.object.camera_add(location=(6.5, -6.5, 4.0))
    camera = bpy.context.object
    direction = -camera.location.copy()
    direction.z += 0.8
    camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera


def build(output: Path) -> Path:
    scene = _set_up_scene()
    _add_floor_and_pillar()
    _add_orbiters()
    _add_lights_and_camera(scene)
    bpy.context.preferences.filepaths.save_version = 0  # no example.blend1 backup beside it
    bpy.ops.wm.save_as_mainfile(filepath=str(output), compress=True)
    return output


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT)
