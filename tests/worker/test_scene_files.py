"""Which files an open scene uses and lacks (containerapp_worker.scene_files), on a shot laid
out the way studios lay one out: the main file deep in a sequence folder, a character library
that itself links a props library, each library with its own texture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bpy
import pytest

from containerapp_worker.scene_files import missing_files

SHOT = "scenes/sq01/sh020/sh020.blend"
CHARACTER = "assets/chars/robot.blend"
PROPS = "assets/props/crate.blend"
CRATE_TEXTURE = "assets/props/tex/crate.png"

BUILD = """
import os, sys, bpy
root = sys.argv[-1]
def plane(name, image_path):
    os.makedirs(os.path.dirname(image_path), exist_ok=True)
    image = bpy.data.images.new(name, 4, 4)
    image.filepath_raw = image_path
    image.file_format = "PNG"
    image.save()
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0)], [], [(0, 1, 2)])
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    node = material.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = bpy.data.images.load(image_path)
    mesh.materials.append(material)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new(name, mesh))
def save(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=path, relative_remap=True)
def link(path, name):
    with bpy.data.libraries.load(path, link=True, relative=True) as (_, into):
        into.objects = [name]
    return into.objects[0]
def rig(objects):
    collection = bpy.data.collections.new("Rig")
    for item in objects:
        collection.objects.link(item)
    bpy.context.scene.collection.children.link(collection)
bpy.ops.wm.read_factory_settings(use_empty=True)
plane("Crate", root + "/assets/props/tex/crate.png")
save(root + "/assets/props/crate.blend")
bpy.ops.wm.read_factory_settings(use_empty=True)
plane("Robot", root + "/assets/chars/tex/robot.png")
rig([bpy.data.objects["Robot"], link(root + "/assets/props/crate.blend", "Crate")])
save(root + "/assets/chars/robot.blend")
bpy.ops.wm.read_factory_settings(use_empty=True)
save(root + "/scenes/sq01/sh020/sh020.blend")
with bpy.data.libraries.load(root + "/assets/chars/robot.blend", link=True, relative=True) as (
    _, into
):
    into.collections = ["Rig"]
instance = bpy.data.objects.new("Rig", None)
instance.instance_type = "COLLECTION"
instance.instance_collection = into.collections[0]
bpy.context.scene.collection.objects.link(instance)
save(root + "/scenes/sq01/sh020/sh020.blend")
"""


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    subprocess.run([sys.executable, "-c", BUILD, str(tmp_path)], check=True, capture_output=True)
    return tmp_path


def opened(root: Path) -> tuple[str, ...]:
    bpy.ops.wm.open_mainfile(filepath=str(root / SHOT), load_ui=False, use_scripts=False)
    return missing_files(bpy, root)


def test_a_library_linked_through_another_resolves_from_a_main_file_deep_in_the_project(
    shot: Path,
) -> None:
    assert opened(shot) == ()


def test_the_texture_of_a_library_linked_through_another_is_named_when_missing(
    shot: Path,
) -> None:
    (shot / CRATE_TEXTURE).unlink()
    assert opened(shot) == (CRATE_TEXTURE,)


def test_a_library_linked_through_another_is_named_when_missing(shot: Path) -> None:
    (shot / PROPS).unlink()
    assert PROPS in opened(shot)
