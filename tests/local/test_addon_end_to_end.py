"""The Blender add-on, built by ``make addon``, installed into a headless Blender and used
against the local farm (one farm for the module, tiny frames): submit, pack, refuse, download,
and submit a scene never saved. The add-on's faults (progress, cancel, drops, a busy farm) and
its UI path are tested without Blender in test_addon_runner.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from renderfarm_client.farm_api import FarmClient
from renderfarm_local.services import REPO
from scripts.build_addon import build
from tests.local.conftest import RunningFarm

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
SESSION = Path(__file__).with_name("addon_session.py")
TEXTURE_RGB = (40, 200, 90)
SESSION_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def session(local_farm: RunningFarm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One Blender process does everything a person would (start-up is paid once)."""
    work = tmp_path_factory.mktemp("addon")
    package = build(work / "dist")
    (work / "user").mkdir()
    Image.new("RGB", (16, 16), TEXTURE_RGB).save(work / "user" / "texture.png")
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
        [
            sys.executable,
            str(SESSION),
            str(package),
            str(work),
            str(REPO / "examples/example.blend"),
        ],
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


def test_the_example_scene_renders_through_the_farm(
    session: dict[str, Any], local_farm: RunningFarm
) -> None:
    job = session["example_job"]
    assert job, session["example_message"]
    assert session["states"][job] == "completed"
    endpoints = local_farm.farm.endpoints
    with FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key) as client:
        progress = client.status(job)
    assert sorted(progress.frame_urls) == [1, 2]


def test_the_persons_file_is_left_as_it_was(session: dict[str, Any]) -> None:
    assert session["example_untouched"] and session["textured_untouched"]
    assert session["example_filepath"].endswith("user/example.blend")
    assert session["texture_still_external"] and session["texture_path"] == "//texture.png"


def test_an_external_texture_is_packed_and_shows_in_the_frame(session: dict[str, Any]) -> None:
    job = session["textured_job"]
    assert job, session["textured_message"]
    assert session["states"][job] == "completed"
    assert session["downloaded"] == ["textured_001.png"]
    with Image.open(session["work"] / "frames" / "textured_001.png") as frame:
        assert frame.size == (64, 48)
        pixel = frame.convert("RGB").getpixel((32, 24))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 3 for a, b in zip(pixel, TEXTURE_RGB, strict=True)), pixel


def test_a_missing_texture_is_named_and_no_job_is_made(
    session: dict[str, Any], local_farm: RunningFarm
) -> None:
    assert session["missing_job"] is None
    assert "missing-texture.png" in session["missing_message"]
    assert "\n" not in session["missing_message"].strip()
    endpoints = local_farm.farm.endpoints
    with FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key) as client:
        jobs = {line.job_id for line in client.jobs(limit=100)}
    assert jobs == {session["example_job"], session["textured_job"], session["unsaved_job"]}


def test_a_scene_never_saved_is_packed_from_memory_and_renders(session: dict[str, Any]) -> None:
    assert session["unsaved_had_no_file"]
    job = session["unsaved_job"]
    assert job, session["unsaved_message"]
    assert session["states"][job] == "completed"
    assert session["unsaved_still_unsaved"], "the session still has no file of its own"
