"""The add-on in a headless Blender, as a person would use it: run by test_addon_end_to_end.py
as ``python addon_session.py ZIP WORKDIR SCENE`` with BLENDER_USER_* pointing at empty folders (bpy
imports once per process: this process is the isolation). Prints one JSON line of results.

Steps: install the built zip with package_install_files and enable it; set the preferences;
submit the example scene (tiny: overrides); submit a scene whose plane shows an external image
texture; try a scene whose texture is missing; submit a scene made here and never saved; wait
for the three jobs; download the textured job's frame with the add-on into the scene's output
path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import bpy

EXT = "bl_ext.user_default.renderfarm"
WAIT_S = 150


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install(zip_path: Path) -> None:
    bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert EXT in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
    prefs = bpy.context.preferences.addons[EXT].preferences
    prefs.api_url = os.environ["FARM_URL"]
    prefs.api_key = os.environ["FARM_KEY"]


def tiny(scene: Any, frames: tuple[int, int]) -> None:
    props = scene.renderfarm
    props.use_scene_range = False
    props.frame_start, props.frame_end = frames
    props.engine = "cycles"
    props.override_samples, props.samples = True, 2
    props.override_resolution = True
    props.resolution_x, props.resolution_y = 64, 48


def submit() -> tuple[str | None, str]:
    try:
        bpy.ops.renderfarm.submit()
    except RuntimeError as error:  # an operator's ERROR report, in background mode
        return None, str(error)
    scene = bpy.context.scene
    return scene.renderfarm.last_job_id or None, scene.renderfarm.message


def textured_scene(path: Path, texture: str) -> None:
    """A camera that sees only a plane emitting an image texture (no lights, black world); the
    image is referenced by the path ``texture`` relative to the saved file."""
    bpy.ops.wm.read_homefile(use_empty=True)  # factory settings would drop the add-on
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.view_settings.view_transform = "Standard"
    scene.frame_start = scene.frame_end = 1
    world = bpy.data.worlds.new("black")
    world.color = (0, 0, 0)
    scene.world = world
    mesh = bpy.data.meshes.new("plane")
    mesh.from_pydata([(-2, -2, 0), (2, -2, 0), (2, 2, 0), (-2, 2, 0)], [], [(0, 1, 2, 3)])
    plane = bpy.data.objects.new("plane", mesh)
    scene.collection.objects.link(plane)
    material = bpy.data.materials.new("textured")
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True  # always on from 5.0
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    image = nodes.new("ShaderNodeTexImage")
    image.image = bpy.data.images.load(str(path.parent / "texture.png"), check_existing=False)
    image.image.filepath = texture
    emission = nodes.new("ShaderNodeEmission")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(image.outputs["Color"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], out.inputs["Surface"])
    mesh.materials.append(material)
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = 2.0
    camera.location = (0, 0, 5)
    scene.collection.objects.link(camera)
    scene.camera = camera
    bpy.ops.wm.save_mainfile()


def unsaved_scene() -> None:
    """A new file, never saved: a camera looking at a cube."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.frame_start = scene.frame_end = 1
    mesh = bpy.data.meshes.new("cube")
    corners = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(corners, [], faces)
    scene.collection.objects.link(bpy.data.objects.new("cube", mesh))
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.location = (0, -6, 0)
    camera.rotation_euler = (1.5708, 0, 0)
    scene.collection.objects.link(camera)
    scene.camera = camera


def wait(job_ids: list[str]) -> dict[str, str]:
    client_module = sys.modules[f"{EXT}.client"]
    settings = client_module.FarmSettings.resolve(os.environ["FARM_URL"], os.environ["FARM_KEY"])
    client = settings.client()
    states: dict[str, str] = {}
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        states = {job: client.status(job, with_frames=False).state for job in job_ids}
        if all(state in {"completed", "failed", "cancelled"} for state in states.values()):
            break
        time.sleep(1)
    return states


def main() -> None:
    zip_path, work = Path(sys.argv[1]), Path(sys.argv[2])
    results: dict[str, Any] = {}
    install(zip_path)

    # The example scene, from a copy that stands for the person's own file.
    example = work / "user" / "example.blend"
    example.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sys.argv[3], example)
    before = sha256(example)
    bpy.ops.wm.open_mainfile(filepath=str(example), load_ui=False)
    tiny(bpy.context.scene, (1, 2))
    results["example_job"], results["example_message"] = submit()
    results["example_untouched"] = sha256(example) == before
    results["example_filepath"] = bpy.data.filepath

    # A scene whose texture lives beside it, referenced by a relative path.
    textured = work / "user" / "textured.blend"
    textured_scene(textured, "//texture.png")
    before = sha256(textured)
    tiny(bpy.context.scene, (1, 1))
    results["textured_job"], results["textured_message"] = submit()
    image = bpy.data.images["texture.png"]
    results["textured_untouched"] = sha256(textured) == before
    results["texture_still_external"] = image.packed_file is None
    results["texture_path"] = image.filepath

    # The same scene with its texture gone.
    missing = work / "user" / "missing.blend"
    textured_scene(missing, "//missing-texture.png")
    tiny(bpy.context.scene, (1, 1))
    results["missing_job"], results["missing_message"] = submit()

    # A scene that was never saved: packed from memory into a temporary file.
    unsaved_scene()
    results["unsaved_had_no_file"] = bpy.data.filepath == ""
    tiny(bpy.context.scene, (1, 1))
    results["unsaved_job"], results["unsaved_message"] = submit()
    results["unsaved_still_unsaved"] = bpy.data.filepath == ""

    jobs = [results[name] for name in ("example_job", "textured_job", "unsaved_job")]
    jobs = [job for job in jobs if job]
    results["states"] = wait(jobs)
    if results["textured_job"]:
        bpy.ops.wm.open_mainfile(filepath=str(textured), load_ui=False)
        bpy.context.scene.render.filepath = str(work / "frames" / "textured_###")
        bpy.ops.renderfarm.download_frames(job_id=results["textured_job"])
        results["downloaded"] = sorted(p.name for p in (work / "frames").glob("*"))
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()
