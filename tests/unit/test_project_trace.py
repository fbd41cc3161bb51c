"""Tracing a real multi-file project (built with bpy 5.3) into a file set with BAT 1.23."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from blender_asset_tracer.trace import expanders

from renderfarm.projects.file_set import OUTSIDE_ROOT, FileSetIn, path_problem
from renderfarm.shared.blend_whole import BlendWalker
from renderfarm_client import bat_compat, project
from renderfarm_client.hash_cache import CACHE_DIR_ENV, FILE_NAME, HashCache
from renderfarm_client.project import ProjectError, TracedProject, outside_path, trace_project
from tests.projects import PYTHON, Project

EXPECTED_INSIDE = {
    "shot.blend",
    "lib/lib.blend",
    "lib/base.blend",
    "lib/tex/lib_tex.png",
    "textures/wood.png",
    "textures/base.png",
    "textures/udim/tile.1001.png",
    "textures/udim/tile.1002.png",
    "textures/seq/frame_0001.png",
    "textures/seq/frame_0002.png",
    "textures/seq/frame_0003.png",
    "fonts/DejaVuSansMono.woff2",
}


#: Opens a laid-out main file and says, for each image, library and font, whether its path
#: resolves to a file (UDIM tiles and sequences by their first file).
_RESOLVES = """
import json, sys
from pathlib import Path
import bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[-1])
def first(path):
    return path.replace("<UDIM>", "1001")
found = {}
for kind, items in (("image", bpy.data.images), ("library", bpy.data.libraries),
                    ("font", bpy.data.fonts)):
    for item in items:
        if not item.filepath or item.filepath == "<builtin>":
            continue
        path = Path(first(bpy.path.abspath(item.filepath, library=getattr(item, "library", None))))
        found[f"{kind}:{item.name}"] = [item.filepath, path.is_file()]
print("RESULT" + json.dumps(found))
"""


def _outside(built: Project) -> str:
    return outside_path(str(built.textures["outside"]))


def _tree_hashes(*folders: Path) -> dict[Path, str]:
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _lay_out(traced: TracedProject, target: Path) -> Path:
    for file in traced.files:
        destination = target / file.path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file.source, destination)
    return target / traced.main


def test_every_dependency_is_traced_with_its_project_path(built: Project) -> None:
    with trace_project(built.main) as traced:
        assert traced.main == "shot.blend"
        assert {file.path for file in traced.files} == EXPECTED_INSIDE | {_outside(built)}
        assert traced.missing == ()
        for file in traced.files:
            assert file.size == file.source.stat().st_size
            assert file.sha256 == hashlib.sha256(file.source.read_bytes()).hexdigest()


def test_a_file_outside_the_project_goes_under_the_outside_folder(built: Project) -> None:
    with trace_project(built.main) as traced:
        outside = [file for file in traced.files if file.path.startswith(f"{OUTSIDE_ROOT}/")]
    assert [file.path for file in outside] == [_outside(built)]
    assert outside[0].source == built.textures["outside"]
    assert project.OUTSIDE_ROOT == OUTSIDE_ROOT


def test_every_project_path_is_one_the_farm_accepts(built: Project) -> None:
    with trace_project(built.main) as traced:
        body = traced.file_set()
    assert all(path_problem(file["path"]) is None for file in body["files"])
    assert FileSetIn.model_validate(body).to_domain().main == "shot.blend"


def test_the_rewritten_main_file_finds_every_file_once_laid_out(
    built: Project, tmp_path: Path
) -> None:
    with trace_project(built.main) as traced:
        rewritten = {file.path for file in traced.files if file.rewritten}
        main = _lay_out(traced, tmp_path / "job")
    # Only the main file uses the outside texture, so only it is rewritten.
    assert rewritten == {"shot.blend"}
    done = subprocess.run(
        [str(PYTHON), "-c", _RESOLVES, str(main)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    found = json.loads(line.removeprefix("RESULT"))
    assert found["image:Outside"][0] == f"//{_outside(built)}"
    for name in ("Wood", "Udim", "Sequence", "Outside", "LibPlane", "BasePlane"):
        assert found[f"image:{name}"][1], (name, found)
    assert all(resolves for _, resolves in found.values()), found
    assert {"library:lib.blend", "library:base.blend"} <= set(found)
    assert any(key.startswith("font:") for key in found), found


def test_a_rewritten_blend_is_one_zstd_frame_the_farm_takes_for_whole(built: Project) -> None:
    """As small as Blender's own save, the same bytes on every trace (no time in it), and whole
    by the API's check."""
    with trace_project(built.main) as traced:
        [main] = [file for file in traced.files if file.rewritten]
        data = main.source.read_bytes()
    assert data[:4] == b"\x28\xb5\x2f\xfd"
    assert len(data) < 2 * built.main.stat().st_size
    walker = BlendWalker()
    walker.feed(data)
    walker.finish()


def test_the_artists_files_stay_byte_identical(fresh: Project) -> None:
    before = _tree_hashes(fresh.root, fresh.outside_dir)
    with trace_project(fresh.main):
        pass
    assert _tree_hashes(fresh.root, fresh.outside_dir) == before


def test_tracing_twice_gives_the_same_files_so_a_resubmit_uploads_nothing(
    built: Project,
) -> None:
    with trace_project(built.main) as first, trace_project(built.main) as second:
        assert first.file_set() == second.file_set()
        assert first.staging != second.staging


def test_the_staging_folder_goes_when_the_project_is_closed(built: Project) -> None:
    with trace_project(built.main) as traced:
        staging = traced.staging
        assert staging.is_dir()
    assert not staging.exists()


def test_a_missing_texture_is_reported_by_its_project_path(fresh: Project) -> None:
    fresh.textures["wood"].unlink()
    fresh.textures["lib_tex"].unlink()
    with trace_project(fresh.main) as traced:
        missing = {file.path: file.original for file in traced.missing}
        paths = {file.path for file in traced.files}
        assert traced.file_set()["missing"] == []
        assert traced.file_set(allow_missing=True)["missing"] == sorted(missing)
    assert missing == {
        "textures/wood.png": str(fresh.textures["wood"]),
        "lib/tex/lib_tex.png": str(fresh.textures["lib_tex"]),
    }
    assert "textures/wood.png" not in paths


def test_a_missing_outside_file_maps_where_an_existing_one_would(
    fresh: Project, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(fresh.outside_dir, moved)
    shutil.rmtree(fresh.outside_dir)
    try:
        with trace_project(fresh.main) as traced:
            assert [file.path for file in traced.missing] == [
                outside_path(str(fresh.textures["outside"]))
            ]
    finally:
        shutil.copytree(moved, fresh.outside_dir)


def test_a_library_materials_texture_is_traced_only_with_the_nodetree_fix(
    built: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert expanders._expand_generic_nodetree_id is bat_compat._expand_generic_nodetree_id
    with trace_project(built.main) as traced:
        assert "lib/tex/lib_tex.png" in {file.path for file in traced.files}
    monkeypatch.setattr(expanders, "_expand_generic_nodetree_id", bat_compat.ORIGINAL)
    with trace_project(built.main) as traced:
        assert "lib/tex/lib_tex.png" not in {file.path for file in traced.files}


def test_udim_tiles_sequence_frames_and_the_font_are_each_a_file(built: Project) -> None:
    with trace_project(built.main) as traced:
        paths = {file.path for file in traced.files}
    assert {"textures/udim/tile.1001.png", "textures/udim/tile.1002.png"} <= paths
    assert {f"textures/seq/frame_000{n}.png" for n in (1, 2, 3)} <= paths
    assert "fonts/DejaVuSansMono.woff2" in paths
    assert not any("<UDIM>" in path or "*" in path for path in paths)


def test_a_wider_project_root_keeps_the_folders_above_the_main_file(built: Project) -> None:
    with trace_project(built.main, project_root=built.root.parent) as traced:
        paths = {file.path for file in traced.files}
        assert traced.main == "project/shot.blend"
    # The outside texture is inside this wider root: no rewrite, no _outside.
    assert "shared/outside.png" in paths
    assert "project/lib/tex/lib_tex.png" in paths


def test_the_main_file_can_be_named_as_the_artist_knows_it(fresh: Project) -> None:
    copy = fresh.root / ".shot.renderfarm-tmp.blend"
    shutil.copyfile(fresh.main, copy)
    with trace_project(copy, project_root=fresh.root, main_name="shot.blend") as traced:
        assert traced.main == "shot.blend"
        assert ".shot.renderfarm-tmp.blend" not in {file.path for file in traced.files}


def test_a_blend_outside_its_project_root_is_refused(built: Project, tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not inside the project root"):
        trace_project(built.main, project_root=tmp_path)


def test_a_file_that_is_not_a_blend_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake.blend"
    fake.write_bytes(b"not a blend file at all")
    with pytest.raises(ProjectError, match=r"fake\.blend"):
        trace_project(fake)


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("C:\\tex\\a.png", "_outside/C/tex/a.png"),
        ("c:/tex/a.png", "_outside/C/tex/a.png"),
        ("D:\\", "_outside/D"),
        ("\\\\server\\share\\a.png", "_outside/unc/server/share/a.png"),
        ("//server/share/dir/a.png", "_outside/unc/server/share/dir/a.png"),
        ("/mnt/textures/a.png", "_outside/mnt/textures/a.png"),
        ("/tmp/job/C:\\tex\\a.png", "_outside/tmp/job/C/tex/a.png"),
    ],
)
def test_outside_paths_map_drives_and_shares_the_same_on_every_machine(
    original: str, expected: str
) -> None:
    assert outside_path(original) == expected


def test_a_corrupt_cache_does_not_break_tracing(fresh: Project) -> None:
    cache_file = Path(os.environ[CACHE_DIR_ENV]) / FILE_NAME
    cache_file.write_bytes(b"not a database " * 1000)
    with trace_project(fresh.main) as traced:
        for file in traced.files:
            assert file.sha256 == hashlib.sha256(file.source.read_bytes()).hexdigest()


def test_an_unusable_cache_does_not_break_tracing(fresh: Project, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with trace_project(fresh.main, hash_cache=HashCache(blocker / FILE_NAME)) as traced:
        assert {file.path for file in traced.files} >= EXPECTED_INSIDE


#: A shot whose other kinds of files BAT must find: a sound, a movie clip (an image sequence
#: clip), an Alembic cache file, an OpenVDB volume and a cloth point cache on disk.
OTHER_KINDS = """
import os, sys, wave, bpy
root = sys.argv[-1]
os.makedirs(root + "/media", exist_ok=True)
os.makedirs(root + "/cache_cloth", exist_ok=True)
with wave.open(root + "/media/beep.wav", "wb") as sound:
    sound.setnchannels(1); sound.setsampwidth(2); sound.setframerate(8000)
    sound.writeframes(bytes(1600))
bpy.ops.wm.read_factory_settings(use_empty=False)
bpy.ops.wm.alembic_export(filepath=root + "/media/cube.abc", start=1, end=1)
bpy.data.sounds.load(root + "/media/beep.wav").use_fake_user = True
volume = bpy.data.volumes.new("Smoke")
volume.filepath = "//media/smoke.vdb"
volume.use_fake_user = True
open(root + "/media/smoke.vdb", "wb").write(b"vdb")
bpy.ops.cachefile.open(filepath=root + "/media/cube.abc")
for cache in bpy.data.cache_files:
    cache.use_fake_user = True
frame = bpy.data.images.new("clip", 4, 4)
frame.filepath_raw = root + "/media/clip_0001.png"
frame.file_format = "PNG"
frame.save()
bpy.data.movieclips.load(root + "/media/clip_0001.png").use_fake_user = True
cache = bpy.data.objects["Cube"].modifiers.new("Cloth", "CLOTH").point_cache
cache.use_disk_cache = True
cache.use_external = True
cache.filepath = "//cache_cloth/"
cache.name = "cloth"
open(root + "/cache_cloth/cloth_000001_00.bphys", "wb").write(b"bphys")
bpy.ops.wm.save_as_mainfile(filepath=root + "/shot.blend", relative_remap=True)
"""


def test_sounds_clips_alembic_volumes_and_point_caches_are_each_a_file(tmp_path: Path) -> None:
    subprocess.run([str(PYTHON), "-c", OTHER_KINDS, str(tmp_path)], check=True, capture_output=True)
    with trace_project(tmp_path / "shot.blend") as traced:
        assert traced.missing == ()
        assert {file.path for file in traced.files} == {
            "shot.blend",
            "media/beep.wav",
            "media/clip_0001.png",
            "media/cube.abc",
            "media/smoke.vdb",
            "cache_cloth/cloth_000001_00.bphys",
        }
