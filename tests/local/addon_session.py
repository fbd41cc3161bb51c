"""The add-on in a headless Blender, as a person would use it: run by test_addon_end_to_end.py
as ``python addon_session.py ZIP WORKDIR SHOT`` with BLENDER_USER_* pointing at empty folders (bpy
imports once per process: this process is the isolation). SHOT is the main .blend of a project
built by ``tests/projects.py`` (linked libraries, each with its own texture). Prints one JSON line
of results.

Steps: render frame 1 of the shot with bare Blender (the reference); install the built zip with
package_install_files (its BAT wheel included) and enable it; set the preferences; submit the
shot as saved (its default name); change it without saving (a plane hidden from render), name
and tag the job, untick Preview first and submit its current state; try it with a texture gone
(refused, naming it); submit a scene made here and never saved; wait for the three jobs;
download the two shot jobs' frames with the add-on.
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
#: The plane hidden from render before the second submit (its texture is "wood").
HIDDEN = "Wood"


def digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones included) and its sha256."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def install(zip_path: Path) -> None:
    bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert EXT in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
    prefs = bpy.context.preferences.addons[EXT].preferences
    prefs.api_url = os.environ["FARM_URL"]
    prefs.api_key = os.environ["FARM_KEY"]


def one_frame(scene: Any, *, tiny: bool) -> None:
    """Frame 1 only; the shot keeps its own engine, samples and 64x48, a made-up scene gets
    tiny overrides."""
    props = scene.renderfarm
    props.use_scene_range = False
    props.frame_start = props.frame_end = 1
    if tiny:
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


def bare_render(shot: Path, target: Path) -> None:
    """Frame 1 as bare Blender renders it, with the settings the farm makes deterministic
    (seed 0, no adaptive sampling, no denoising)."""
    bpy.ops.wm.open_mainfile(filepath=str(shot), load_ui=False)
    scene = bpy.context.scene
    scene.cycles.seed = 0
    scene.cycles.use_animated_seed = False
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.frame_set(1)
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(target)
    bpy.ops.render.render(write_still=True)


def unsaved_scene() -> None:
    """A new file, never saved: a camera looking at a cube."""
    bpy.ops.wm.read_homefile(use_empty=True)  # factory settings would drop the add-on
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


def wait(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    client_module = sys.modules[f"{EXT}.client"]
    settings = client_module.FarmSettings.resolve(os.environ["FARM_URL"], os.environ["FARM_KEY"])
    client = settings.client()
    ended = {"completed", "failed", "cancelled"}
    deadline = time.monotonic() + WAIT_S
    while True:
        progress = {job: client.status(job, with_frames=False) for job in job_ids}
        if all(p.state in ended for p in progress.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    return {
        job: {
            "state": p.state,
            "error": p.error,
            "warnings": list(p.warnings),
            "main": p.files.main if p.files else None,
            "name": p.name,
            "tags": list(p.tags),
        }
        for job, p in progress.items()
    }


def download(job_id: str, template: Path) -> None:
    """The add-on's Download button, into ``template`` as the scene's output path."""
    bpy.context.scene.render.filepath = str(template)
    bpy.ops.renderfarm.download_frames(job_id=job_id)


def main() -> None:
    zip_path, work, shot = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    project = shot.parent
    results: dict[str, Any] = {}
    bare_render(shot, work / "bare" / "shot.png")
    install(zip_path)
    # Blender installed the manifest's BAT wheel (this Python has BAT too: it cannot tell).
    local = Path(os.environ["BLENDER_USER_EXTENSIONS"]) / ".local"
    results["bat_wheel_installed"] = any(local.glob("lib/*/site-packages/blender_asset_tracer"))
    before = digests(project)

    # The shot as saved: traced from the artist's own file.
    bpy.ops.wm.open_mainfile(filepath=str(shot), load_ui=False)
    one_frame(bpy.context.scene, tiny=False)
    results["saved_job"], results["saved_message"] = submit()

    # Unsaved changes: the plane is hidden now, not in the file on disk.
    bpy.data.objects[HIDDEN].hide_render = True
    bpy.ops.ed.undo_push(message="hide a plane")  # what an edit in the UI does
    results["dirty_before_submit"] = bpy.data.is_dirty
    bpy.context.scene.renderfarm.job_name = "shot, plane hidden"
    bpy.context.scene.renderfarm.job_tags = "shot=010, wip"
    results["preview_first_by_default"] = bpy.context.scene.renderfarm.preview_first
    bpy.context.scene.renderfarm.preview_first = False  # this job's chunks go in file order
    results["changed_job"], results["changed_message"] = submit()
    results["changed_still_dirty"] = bpy.data.is_dirty
    results["filepath_after"] = bpy.data.filepath

    # A texture gone: refused before any job, naming it.
    wood = project / "textures" / "wood.png"
    shutil.move(wood, work / "wood.png")
    results["missing_job"], results["missing_message"] = submit()
    shutil.move(work / "wood.png", wood)
    results["project_untouched"] = digests(project) == before
    results["project_files_after"] = sorted(digests(project))

    # A scene never saved: saved from memory into a temporary folder.
    unsaved_scene()
    results["unsaved_had_no_file"] = bpy.data.filepath == ""
    one_frame(bpy.context.scene, tiny=True)
    results["unsaved_job"], results["unsaved_message"] = submit()
    results["unsaved_still_unsaved"] = bpy.data.filepath == ""

    jobs = [results[name] for name in ("saved_job", "changed_job", "unsaved_job")]
    results["jobs"] = wait([job for job in jobs if job])
    for name in ("saved", "changed"):
        if results[f"{name}_job"]:
            download(results[f"{name}_job"], work / "frames" / f"{name}_###")
    results["downloaded"] = sorted(p.name for p in (work / "frames").glob("*"))
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()
