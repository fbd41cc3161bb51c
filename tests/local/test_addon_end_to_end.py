"""The Blender add-on, built by ``make addon``, installed into a headless Blender and used
against the local farm (one farm for the module, one 64x48 frame a job): a project with linked
libraries (each with its own texture) is traced, uploaded and rendered as bare Blender renders
it; unsaved changes are sent as they are while the artist's files stay byte-identical; Preview
first is on by default and unticked sends ``order: "sequential"``; a missing
texture is refused naming it; a scene never saved renders. The add-on's faults (progress, cancel,
drops, a busy farm, missing files) and its UI path are tested without Blender in
tests/local/addon_runner/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient
from PIL import Image

from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared.blob_layout import manifest_blob
from renderfarm.shared.settings import Settings
from renderfarm_client.farm_api import FarmClient
from scripts.build_addon import build
from tests.local.conftest import RunningFarm
from tests.projects import COLOURS, build_project

#: One Blender session does every test's work in the module fixture (about 25 s alone; minutes
#: on a loaded machine): the fixture's setup gets the session's own limit, not the default 120 s.
SESSION_TIMEOUT_S = 300
pytestmark = [
    pytest.mark.local_farm,
    pytest.mark.slow,
    pytest.mark.timeout(SESSION_TIMEOUT_S + 60),
]
SESSION = Path(__file__).with_name("addon_session.py")
#: Cycles with a fixed seed renders the same pixels on every run; PNG rounding aside.
PIXEL_TOLERANCE = 2


@pytest.fixture(scope="module")
def session(local_farm: RunningFarm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One Blender process does everything a person would (start-up is paid once)."""
    work = tmp_path_factory.mktemp("addon")
    package = build(work / "dist")
    project = build_project(work / "artist")
    home = work / "blender-home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENDERFARM_")},
        "BLENDER_USER_CONFIG": str(home / "config"),
        "BLENDER_USER_SCRIPTS": str(home / "scripts"),
        "BLENDER_USER_EXTENSIONS": str(home / "extensions"),
        "FARM_URL": local_farm.farm.endpoints.api_url,
        "FARM_KEY": local_farm.farm.endpoints.api_key,
    }
    done = subprocess.run(
        [sys.executable, str(SESSION), str(package), str(work), str(project.main)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=SESSION_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return {**json.loads(lines[-1].removeprefix("RESULTS ")), "work": work}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.size == (64, 48)
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def has_colour(path: Path, rgb: tuple[float, float, float]) -> bool:
    """Whether some pixel shows this texture's colour (sRGB, as Blender wrote it)."""
    target = np.array([round(c * 255) for c in rgb])
    return bool((np.abs(pixels(path) - target).max(axis=2) <= 12).any())


def completed(session: dict[str, Any], name: str) -> dict[str, Any]:
    job = session[f"{name}_job"]
    assert job, session[f"{name}_message"]
    status: dict[str, Any] = session["jobs"][job]
    assert status["state"] == "completed", status
    return status


def test_a_project_with_linked_libraries_renders_as_bare_blender_renders_it(
    session: dict[str, Any],
) -> None:
    assert session["bat_wheel_installed"], "Blender installed the wheel the manifest lists"
    status = completed(session, "saved")
    assert status["main"] == "shot.blend" and status["warnings"] == []
    assert (status["name"], status["tags"]) == ("shot.blend 1-1", [])
    assert "saved_001.png" in session["downloaded"]
    frame = session["work"] / "frames" / "saved_001.png"
    difference = np.abs(pixels(frame) - pixels(session["work"] / "bare" / "shot.png")).max()
    assert difference <= PIXEL_TOLERANCE, (
        f"the farm's frame differs from bare Blender's by {difference}"
    )
    # The library's own texture (relative to the library), and the one its library links.
    assert has_colour(frame, COLOURS["lib_tex"]) and has_colour(frame, COLOURS["base"])
    assert has_colour(frame, COLOURS["wood"])


def test_unsaved_changes_are_sent_as_they_are_and_the_artists_files_stay_byte_identical(
    session: dict[str, Any],
) -> None:
    assert session["dirty_before_submit"] and session["changed_still_dirty"]
    assert session["filepath_after"].endswith("artist/project/shot.blend")
    status = completed(session, "changed")
    assert status["main"] == "shot.blend", "the job names the artist's file, not the copy"
    assert (status["name"], status["tags"]) == ("shot, plane hidden", ["shot=010", "wip"])
    frame = session["work"] / "frames" / "changed_001.png"
    assert not has_colour(frame, COLOURS["wood"]), "the hidden plane is hidden on the farm"
    assert has_colour(frame, COLOURS["lib_tex"])
    assert session["project_untouched"]
    hidden = [path for path in session["project_files_after"] if "renderfarm-" in path]
    assert hidden == [], "the copy of the unsaved state is removed"


def sent_order(farm: RunningFarm, job_id: str) -> str:
    """The ``order`` the farm took from the add-on's submit, as the job's manifest keeps it."""
    connection = farm.farm.endpoints.storage_connection_string
    container = Settings.model_fields["jobs_container"].default  # the local farm's
    with BlobServiceClient.from_connection_string(connection) as blobs:
        blob = blobs.get_blob_client(container, manifest_blob(job_id))
        manifest = JobManifest.from_json(blob.download_blob().readall())
    return manifest.spec.order.value


def test_preview_first_is_the_default_and_unticking_it_sends_file_order(
    session: dict[str, Any], local_farm: RunningFarm
) -> None:
    assert session["preview_first_by_default"] is True
    assert sent_order(local_farm, session["saved_job"]) == "preview_first"
    assert sent_order(local_farm, session["changed_job"]) == "sequential"


def test_a_missing_texture_is_named_and_no_job_is_made(
    session: dict[str, Any], local_farm: RunningFarm
) -> None:
    assert session["missing_job"] is None
    assert "textures/wood.png" in session["missing_message"]
    assert "\n" not in session["missing_message"].strip()
    endpoints = local_farm.farm.endpoints
    with FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key) as client:
        jobs = {line.job_id for line in client.jobs(limit=100)}
    assert jobs == {session["saved_job"], session["changed_job"], session["unsaved_job"]}


def test_a_scene_never_saved_renders(session: dict[str, Any]) -> None:
    assert session["unsaved_had_no_file"]
    assert completed(session, "unsaved")["name"] == "untitled.blend 1-1"
    assert session["unsaved_still_unsaved"], "the session still has no file of its own"
