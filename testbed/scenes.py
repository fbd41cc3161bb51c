"""Small .blend files for the worker's tests, built with the project's bpy (5.3) unless a
``python`` of another Blender pool's venv is given.

Each public ``build_*`` function runs this file as a script in a fresh Python process, so the
test process's own Blender state (the runner under test) is never touched by the building. The
script runs on every pool's Python (3.11 for Blender 4.5).

The Cycles scene is 64x64 with an orthographic camera looking down -Z at 16 px per unit:
a red emissive square slides from x=-1 (frame 1) to x=+1 (frame 3) across the upper half, and a
diffuse sphere lit by a point light sits in the lower half (noisy at few samples, so identical
pixels across renders prove the seed is fixed). Emission under the Standard view transform gives
exactly (255, 0, 0); the world is black.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = 64
FRAMES = (1, 2, 3)
CAMERA = "Camera"
SIDE_CAMERA = "SideCamera"
SMALL_SCENE = "Small"
SMALL_SCENE_SIZE = 32
#: (column, row from the top) of a pixel inside the red square at frame 1 and outside it at 3.
RED_AT_FRAME_1 = (16, 16)
#: (column, row from the top) of a pixel inside the red square at frame 3 and outside it at 1.
RED_AT_FRAME_3 = (48, 16)
#: A corner no object covers: the black world.
BACKGROUND_PIXEL = (0, 63)

_PIXELS_PER_UNIT = 16
_SQUARE_HALF_SIDE = 0.5


def build_cycles_scene(path: Path, *, python: Path | None = None) -> Path:
    """(a) The animated 64x64 Cycles scene described above, with a second camera and scene,
    saved by the Blender of ``python`` (default: this process's)."""
    return _build("cycles", path, python=python)


def build_scripted_scene(path: Path, *, text_marker: Path, driver_marker: Path) -> Path:
    """(b) The Cycles scene plus an auto-run text block and a Python driver, each of which
    writes its marker file if Blender ever runs it."""
    return _build("scripted", path, str(text_marker), str(driver_marker))


def build_unrenderable_scene(path: Path) -> Path:
    """A scene that opens fine but whose frames Blender refuses (a zero-width render border)."""
    return _build("unrenderable", path)


def build_cameraless_scene(path: Path) -> Path:
    """A scene with no camera at all."""
    return _build("cameraless", path)


#: The header Blender 5.3 writes: a corrupt scene that passes the API's header check.
BLEND_5_3_HEADER = b"BLENDER17-01v0503"


def whole_blend(header: bytes, payload: bytes = b"") -> bytes:
    """A file the API's checks take for a whole .blend: ``header`` (12 or 17 bytes, 4.x or 5.x
    layout), one block holding ``payload``, and the ENDB block that ends every .blend. Blender
    itself cannot read it (it has no DNA)."""
    if header[7:9] == b"17":  # format 1: code, SDNAnr, old, len, nr
        block = struct.pack("<4siQqq", b"TEST", 0, 0, len(payload), 1)
        end = struct.pack("<4siQqq", b"ENDB", 0, 0, 0, 0)
    else:  # format 0, 8-byte pointers, little-endian: code, len, old, SDNAnr, nr
        block = struct.pack("<4siQii", b"TEST", len(payload), 0, 0, 1)
        end = struct.pack("<4siQii", b"ENDB", 0, 0, 0, 0)
    return header + block + payload + end


def write_corrupt_blend(
    path: Path, *, size: int = 4096, seed: int = 4, with_header: bool = True
) -> Path:
    """(c) Random bytes under a .blend name, by default behind a 5.3 header and framed as whole
    blocks, so that the API's checks let it through and only Blender itself can tell it is
    corrupt."""
    noise = random.Random(seed).randbytes(size)  # noqa: S311 (test data, not a secret)
    path.write_bytes(whole_blend(BLEND_5_3_HEADER, noise) if with_header else noise)
    return path


def _build(kind: str, path: Path, *args: str, python: Path | None = None) -> Path:
    subprocess.run(
        [str(python or sys.executable), __file__, kind, str(path), *args],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


# Everything below runs in the builder process, where bpy is imported.


def _empty_cycles_scene(bpy: Any) -> Any:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.render.resolution_x = SIZE
    scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.cycles.samples = 8
    scene.cycles.seed = 0
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.view_settings.view_transform = "Standard"
    scene.frame_start, scene.frame_end = FRAMES[0], FRAMES[-1]
    world = bpy.data.worlds.new("Black")
    world.color = (0.0, 0.0, 0.0)
    if world.node_tree is not None:  # a new world comes with a grey Background node
        world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.0
    scene.world = world
    return scene


def _material(bpy: Any, name: str, *, emission: bool, color: tuple[float, float, float]) -> Any:
    material = bpy.data.materials.new(name)
    if material.node_tree is None:  # Blender 4.x: nodes are opt-in (5.0 always has them)
        material.use_nodes = True
    nodes = material.node_tree.nodes
    nodes.clear()
    output = nodes.new("ShaderNodeOutputMaterial")
    shader = nodes.new("ShaderNodeEmission" if emission else "ShaderNodeBsdfDiffuse")
    shader.inputs["Color"].default_value = (*color, 1.0)
    material.node_tree.links.new(shader.outputs[0], output.inputs["Surface"])
    return material


def _add_object(scene: Any, bpy: Any, name: str, data: Any) -> Any:
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    return obj


def _add_camera(scene: Any, bpy: Any, name: str) -> Any:
    camera_data = bpy.data.cameras.new(name)
    camera_data.type = "ORTHO"
    camera_data.ortho_scale = SIZE / _PIXELS_PER_UNIT
    camera = _add_object(scene, bpy, name, camera_data)
    camera.location = (0.0, 0.0, 10.0)
    return camera


def _add_red_square(scene: Any, bpy: Any) -> None:
    h = _SQUARE_HALF_SIDE
    mesh = bpy.data.meshes.new("Square")
    mesh.from_pydata([(-h, -h, 0), (h, -h, 0), (h, h, 0), (-h, h, 0)], [], [(0, 1, 2, 3)])
    mesh.materials.append(_material(bpy, "Red", emission=True, color=(1.0, 0.0, 0.0)))
    square = _add_object(scene, bpy, "RedSquare", mesh)
    for frame, x in ((FRAMES[0], -1.0), (FRAMES[-1], 1.0)):
        square.location = (x, 1.0, 0.0)
        square.keyframe_insert("location", frame=frame)


def _add_lit_sphere(scene: Any, bpy: Any) -> None:
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.8, location=(0.0, -1.0, 0.0))
    sphere = bpy.context.object
    sphere.data.materials.append(_material(bpy, "Grey", emission=False, color=(0.8, 0.8, 0.8)))
    light = _add_object(scene, bpy, "Lamp", bpy.data.lights.new("Lamp", "POINT"))
    light.data.energy = 300.0
    light.location = (1.5, -2.0, 3.0)


def _make_cycles(bpy: Any) -> Any:
    scene = _empty_cycles_scene(bpy)
    scene.name = "Main"
    _add_red_square(scene, bpy)
    _add_lit_sphere(scene, bpy)
    scene.camera = _add_camera(scene, bpy, CAMERA)
    side = _add_camera(scene, bpy, SIDE_CAMERA)
    side.location = (3.0, 0.0, 10.0)
    small = bpy.data.scenes.new(SMALL_SCENE)
    small.render.engine = "CYCLES"
    small.render.resolution_x = small.render.resolution_y = SMALL_SCENE_SIZE
    small.collection.children.link(_collect_into(scene, bpy))
    small.camera = scene.camera
    small.world = scene.world
    return scene


def _collect_into(scene: Any, bpy: Any) -> Any:
    """Move the main scene's objects into a collection the second scene can share."""
    shared = bpy.data.collections.new("Shared")
    scene.collection.children.link(shared)
    for obj in list(scene.collection.objects):
        shared.objects.link(obj)
        scene.collection.objects.unlink(obj)
    return shared


def _make_scripted(bpy: Any, text_marker: str, driver_marker: str) -> Any:
    scene = _make_cycles(bpy)
    text = bpy.data.texts.new("autorun.py")
    text.write(f"import pathlib\npathlib.Path({text_marker!r}).write_text('text block ran')\n")
    text.use_module = True  # "Register": runs on load when auto-execution is allowed
    write = f"import pathlib; pathlib.Path({driver_marker!r}).write_text('driver ran')"
    driver = bpy.data.objects["RedSquare"].driver_add("rotation_euler", 2).driver
    driver.type = "SCRIPTED"
    driver.expression = f"exec({write!r}) or 0.0"
    return scene


def _make_unrenderable(bpy: Any) -> Any:
    scene = _make_cycles(bpy)
    scene.render.use_border = True
    scene.render.border_min_x = scene.render.border_max_x = 0.5
    return scene


def _make_cameraless(bpy: Any) -> Any:
    scene = _empty_cycles_scene(bpy)
    _add_red_square(scene, bpy)
    return scene


def _main(argv: list[str]) -> None:
    import bpy  # noqa: PLC0415 - only the builder process loads Blender

    kind, path, *args = argv
    makers: dict[str, Callable[..., Any]] = {
        "cycles": _make_cycles,
        "scripted": _make_scripted,
        "unrenderable": _make_unrenderable,
        "cameraless": _make_cameraless,
    }
    makers[kind](bpy, *args)
    bpy.ops.wm.save_as_mainfile(filepath=path, compress=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
