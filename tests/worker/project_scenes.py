"""A small project (file set) for the worker's tests, built with bpy in a fresh process.

``build_project(root)`` writes::

    root/shot.blend            Cycles, 8x8, 1 sample; a plane textured with textures/checker.png
                               and the object "Prop" linked from lib/props.blend
    root/textures/checker.png  (used by shot.blend as //textures/checker.png)
    root/lib/props.blend       the object "Prop", textured with //wood.png (relative to itself)
    root/lib/wood.png

and returns the project paths. Runs as a script on any pool's Python, importing nothing from
this repository.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

MAIN = "shot.blend"
CHECKER = "textures/checker.png"
LIBRARY = "lib/props.blend"
WOOD = "lib/wood.png"
PATHS = (MAIN, CHECKER, LIBRARY, WOOD)
SIZE = 8


def build_project(root: Path, *, python: Path | None = None) -> tuple[str, ...]:
    subprocess.run(
        [str(python or sys.executable), __file__, str(root)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return PATHS


# Everything below runs in the builder process, where bpy is imported.


def _image(bpy: Any, path: Path, written: str, color: tuple[float, float, float]) -> Any:
    """A 4x4 PNG saved at ``path``, then named in the file as ``written``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = bpy.data.images.new(path.stem, 4, 4)
    image.pixels = [*color, 1.0] * 16
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    image.filepath = written
    return image


def _textured_plane(bpy: Any, name: str, image: Any) -> Any:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
    material = bpy.data.materials.new(name)
    if material.node_tree is None:  # Blender 4.x: nodes are opt-in
        material.use_nodes = True
    nodes = material.node_tree.nodes
    nodes.clear()
    output = nodes.new("ShaderNodeOutputMaterial")
    emission = nodes.new("ShaderNodeEmission")
    texture = nodes.new("ShaderNodeTexImage")
    texture.image = image
    material.node_tree.links.new(texture.outputs["Color"], emission.inputs["Color"])
    material.node_tree.links.new(emission.outputs[0], output.inputs["Surface"])
    mesh.materials.append(material)
    return bpy.data.objects.new(name, mesh)


def _library(bpy: Any, root: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    wood = _image(bpy, root / WOOD, "//wood.png", (0.6, 0.4, 0.2))
    prop = _textured_plane(bpy, "Prop", wood)
    bpy.context.scene.collection.objects.link(prop)
    (root / LIBRARY).parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(root / LIBRARY))


def _shot(bpy: Any, root: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(root / MAIN))  # relative paths need a home
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.cycles.samples = 1
    scene.frame_start = scene.frame_end = 1
    checker = _image(bpy, root / CHECKER, f"//{CHECKER}", (1.0, 1.0, 1.0))
    scene.collection.objects.link(_textured_plane(bpy, "Plane", checker))
    with bpy.data.libraries.load(str(root / LIBRARY), link=True, relative=True) as (_, into):
        into.objects = ["Prop"]
    for linked in into.objects:
        scene.collection.objects.link(linked)
    camera_data = bpy.data.cameras.new("Camera")
    camera_data.type = "ORTHO"
    camera = bpy.data.objects.new("Camera", camera_data)
    camera.location = (0.0, 0.0, 5.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    bpy.ops.wm.save_as_mainfile(filepath=str(root / MAIN))


def _main(root: Path) -> None:
    import bpy  # noqa: PLC0415 (only the builder process imports bpy)

    _library(bpy, root)
    _shot(bpy, root)


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
