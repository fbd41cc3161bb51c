"""A real multi-file shot through ``renderfarm submit`` and the whole local farm: linked libraries
(one linked twice over), textures relative to the shot and to a library, an absolute-path
texture outside the project, a UDIM set, an image sequence and a font. The farm's frames must be
the frames bare Blender renders from the same files, rendered while the originals are not
readable at their old paths (the job is deferred, and the files moved away once the submit
returned), so that a worker on this machine cannot read them directly and pass by mistake."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from renderfarm_client.farm_api import FarmClient, JobProgress
from renderfarm_local.supervisor import free_port
from tests.local.conftest import RunningFarm
from tests.projects import COLOURS, FRAMES, PYTHON, Project, build_project, write_png

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
JOB_LINE = re.compile(r"job ([0-9a-f]{32})")
#: Cycles with a fixed seed renders the same pixels on every run; PNG rounding aside.
PIXEL_TOLERANCE = 2
#: Long enough for the submit to return and the originals to be moved away first.
DEFER_S = 12
#: What Blender renders in place of an image it cannot find.
MISSING_IMAGE = (1.0, 0.0, 1.0)
JOB_TIMEOUT_S = 240

#: Bare Blender: open the shot as an artist would and render each frame, with the settings the
#: farm makes deterministic (seed 0, no adaptive sampling, no denoising).
BARE_RENDER = """
import sys, bpy
main, out, frames = sys.argv[-3], sys.argv[-2], int(sys.argv[-1])
bpy.ops.wm.open_mainfile(filepath=main)
scene = bpy.context.scene
scene.cycles.seed = 0
scene.cycles.use_animated_seed = False
scene.cycles.use_adaptive_sampling = False
scene.cycles.use_denoising = False
scene.render.image_settings.file_format = "PNG"
for frame in range(1, frames + 1):
    scene.frame_set(frame)
    scene.render.filepath = f"{out}/{frame:06d}.png"
    bpy.ops.render.render(write_still=True)
"""


def bare_blender(main: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(PYTHON), "-c", BARE_RENDER, str(main), str(out), str(FRAMES)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return [out / f"{frame:06d}.png" for frame in range(1, FRAMES + 1)]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def assert_same_pixels(farm: Path, bare: Path) -> None:
    difference = np.abs(pixels(farm) - pixels(bare)).max()
    assert difference <= PIXEL_TOLERANCE, f"{farm.name} differs from bare Blender by {difference}"


def has_colour(path: Path, rgb: tuple[float, float, float]) -> bool:
    """Whether some pixel shows this texture's colour (sRGB, as Blender wrote it)."""
    image = pixels(path)
    target = np.array([round(c * 255) for c in rgb])
    return bool((np.abs(image - target).max(axis=2) <= 12).any())


@pytest.fixture(scope="module")
def client(local_farm: RunningFarm) -> FarmClient:
    endpoints = local_farm.farm.endpoints
    return FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key)


def wait_until_over(client: FarmClient, job_id: str) -> JobProgress:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        progress = client.status(job_id)
        if progress.is_over:
            return progress
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not end in {JOB_TIMEOUT_S} s")


def download(client: FarmClient, progress: JobProgress, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for frame, url in sorted(progress.frame_urls.items()):
        target = out / f"{frame:06d}.png"
        client.download(url, target)
        paths.append(target)
    return paths


def submit(
    local_farm: RunningFarm, project: Project, *args: str, frames: str = f"1-{FRAMES}"
) -> tuple[str, str]:
    """Submit through the CLI; the job's id and what the CLI said on stderr."""
    result = local_farm.cli("submit", str(project.main), "--frames", frames, *args)
    assert result.code == 0, result.stderr
    found = JOB_LINE.search(result.stderr)
    assert found is not None, result.stderr
    return found[1], result.stderr


def test_a_shot_renders_the_pixels_bare_blender_renders_while_its_originals_are_gone(
    local_farm: RunningFarm, client: FarmClient, tmp_path: Path
) -> None:
    project = build_project(tmp_path / "artist")
    bare = bare_blender(project.main, tmp_path / "bare")
    originals = {path: path.read_bytes() for path in project.root.rglob("*") if path.is_file()}
    not_before = (datetime.now(UTC) + timedelta(seconds=DEFER_S)).isoformat()
    job_id, said = submit(local_farm, project, "--not-before", not_before)
    assert re.search(r"\d+ files, \d+ new \([\d.]+ MB\), 0 already on the farm", said), said
    # The artist's files were never modified...
    assert {p: p.read_bytes() for p in originals} == originals
    # ...and from now on nobody can read them where the scene says they are.
    shutil.move(tmp_path / "artist", tmp_path / "elsewhere")
    assert not project.textures["outside"].exists()
    progress = wait_until_over(client, job_id)
    assert progress.state == "completed", progress
    assert progress.warnings == ()
    frames = download(client, progress, tmp_path / "farm")
    assert len(frames) == FRAMES
    for farm_frame, bare_frame in zip(frames, bare, strict=True):
        assert_same_pixels(farm_frame, bare_frame)
    # Every texture shows, the library's own and the one outside the project among them.
    for key in ("wood", "lib_tex", "base", "outside", "udim_1001", "udim_1002", "seq_1"):
        assert has_colour(frames[0], COLOURS[key]), key
    assert has_colour(frames[2], COLOURS["seq_3"])  # the sequence's third image on frame 3
    assert not has_colour(frames[0], MISSING_IMAGE)


def test_after_one_texture_changes_its_new_colour_renders_and_only_it_is_uploaded(
    local_farm: RunningFarm, client: FarmClient, tmp_path: Path
) -> None:
    project = build_project(tmp_path / "artist")
    first, _ = submit(local_farm, project, frames="1")
    assert wait_until_over(client, first).state == "completed"
    repainted = (0.2, 0.3, 0.95)
    write_png(project.textures["wood"], repainted)
    second, said = submit(local_farm, project, frames="1")
    assert re.search(r"\d+ files, 1 new \([\d.]+ MB\), \d+ already on the farm", said), said
    progress = wait_until_over(client, second)
    assert progress.state == "completed"
    [frame] = download(client, progress, tmp_path / "farm")
    assert has_colour(frame, repainted)
    assert not has_colour(frame, COLOURS["wood"])
    [bare] = bare_blender(project.main, tmp_path / "bare")[:1]
    assert_same_pixels(frame, bare)


def test_a_missing_texture_is_refused_before_any_job_exists_naming_it(
    local_farm: RunningFarm, client: FarmClient, tmp_path: Path
) -> None:
    project = build_project(tmp_path / "artist")
    project.textures["wood"].unlink()
    before = len(client.jobs(limit=100))
    result = local_farm.cli("submit", str(project.main), "--frames", "1")
    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert "textures/wood.png" in result.stderr.splitlines()[-1]
    assert len(client.jobs(limit=100)) == before


def test_with_allow_missing_the_job_renders_and_its_status_warns_of_the_file(
    local_farm: RunningFarm, client: FarmClient, tmp_path: Path
) -> None:
    project = build_project(tmp_path / "artist")
    project.textures["wood"].unlink()
    job_id, _ = submit(local_farm, project, "--allow-missing", frames="1")
    progress = wait_until_over(client, job_id)
    assert progress.state == "completed"
    assert progress.warnings == ("missing file: textures/wood.png",)
    status = local_farm.cli("status", job_id)
    assert "textures/wood.png" in status.stdout


def test_a_file_whose_stored_bytes_do_not_match_its_hash_fails_the_chunk_naming_it(
    client: FarmClient, local_farm: RunningFarm, tmp_path: Path
) -> None:
    """The API hashes .blend files; every other file is hashed by the worker that fetches it."""
    project = build_project(tmp_path / "artist")
    texture = project.textures["wood"].read_bytes()
    claimed = hashlib.sha256(texture + b"another upload").hexdigest()
    endpoints = local_farm.farm.endpoints
    api = httpx.Client(
        base_url=endpoints.api_url, headers={"Authorization": f"Bearer {endpoints.api_key}"}
    )
    main = project.main.read_bytes()
    files = {"shot.blend": main, "textures/wood.png": texture}
    hashes = {"shot.blend": hashlib.sha256(main).hexdigest(), "textures/wood.png": claimed}
    wanted = api.post(
        "/api/files/missing",
        json={"files": [{"sha256": hashes[p], "size": len(d)} for p, d in files.items()]},
    ).json()
    for upload in wanted["missing"]:
        path = next(p for p, sha in hashes.items() if sha == upload["sha256"])
        put = httpx.put(upload["upload_url"], content=files[path], headers=wanted["upload_headers"])
        assert put.status_code == 201
    body: dict[str, Any] = {
        "files": {
            "main": "shot.blend",
            "files": [{"path": p, "sha256": hashes[p], "size": len(d)} for p, d in files.items()],
        },
        "frames": "1",
        "allow_missing": True,  # the libraries are left out: only the mismatch may fail it
    }
    accepted = api.post("/api/jobs", json=body)
    assert accepted.status_code == 202, accepted.text
    progress = wait_until_over(client, accepted.json()["job_id"])
    assert progress.state == "failed"
    [chunk] = progress.chunks
    assert chunk.last_error is not None
    assert "textures/wood.png" in chunk.last_error
    assert claimed not in chunk.last_error and str(tmp_path) not in chunk.last_error
    # The bad copy is gone: the next submit uploads the file again.
    again = api.post(
        "/api/files/missing", json={"files": [{"sha256": claimed, "size": len(texture)}]}
    ).json()
    assert [m["sha256"] for m in again["missing"]] == [claimed]


def test_local_gc_keeps_what_jobs_named_lately_and_deletes_the_rest(
    local_farm: RunningFarm, tmp_path: Path
) -> None:
    """Last in the module: with --keep-days 0 it empties the farm's store of project files."""
    port = str(local_farm.farm.ports.blob)
    kept = local_farm.cli("local", "gc", "--blob-port", port)
    assert kept.code == 0, kept.stderr
    assert re.search(
        r"^0 files deleted \(0\.0 MB\), 0 file sets deleted, [1-9]\d* files kept",
        kept.stdout,
        re.MULTILINE,
    ), kept.stdout
    emptied = local_farm.cli("local", "gc", "--blob-port", port, "--keep-days", "0")
    assert emptied.code == 0, emptied.stderr
    assert re.search(r"^[1-9]\d* files deleted .* 0 files kept", emptied.stdout, re.MULTILINE), (
        emptied.stdout
    )
    project = build_project(tmp_path / "artist")
    _, said = submit(local_farm, project, frames="1")
    assert re.search(r"(\d+) files, \1 new", said), said


def test_local_gc_starts_the_farms_storage_alone_when_no_farm_runs(
    local_farm: RunningFarm, tmp_path: Path
) -> None:
    result = local_farm.cli(
        "local", "gc", "--data-dir", str(tmp_path / "farm"), "--blob-port", str(free_port())
    )
    assert result.code == 0, result.stderr
    assert "0 files deleted (0.0 MB), 0 file sets deleted, 0 files kept" in result.stdout
