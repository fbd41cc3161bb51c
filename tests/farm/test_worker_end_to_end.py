"""The worker end to end: API -> Service Bus emulator -> `python -m containerapp_worker` -> Blob."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from containerapp_worker.blender_runner import BlenderRunner
from renderfarm.shared.render_settings import RenderSettings
from testbed.emulators import ServiceBusEmulator, stop_process
from testbed.scenes import build_scripted_scene
from tests.farm.conftest import LOCK_SECONDS, Farm, auth
from tests.worker.pixels import decode

pytestmark = pytest.mark.timeout(180)


def completed(status: dict[str, Any]) -> bool:
    return bool(status["state"] == "completed")


def frames_done_at_least(count: int) -> Any:
    return lambda status: status["frames_done"] >= count


def test_idle_worker_stops_promptly_on_sigterm(farm: Farm) -> None:
    worker = farm.start_worker()
    farm.wait_until_ready(worker)  # connected and waiting for messages
    time.sleep(0.5)  # inside a receive
    started = time.monotonic()
    assert stop_process(worker, signal.SIGTERM) == 0
    assert time.monotonic() - started < 5


def test_every_frame_lands_with_the_right_pixels(
    farm: Farm, scene_blend: Path, tmp_path: Path
) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-6", chunk_size=2)
    farm.start_worker()
    status = farm.wait_for(job, completed)
    assert status["frames_done"] == 6
    assert [chunk["state"] for chunk in status["chunks"]] == ["done"] * 3
    assert farm.frame_blobs(job) == [f"{job}/frames/{f:06d}.png" for f in range(1, 7)]
    thumbs = list(farm.jobs.list_blob_names(name_starts_with=f"{job}/thumbs/"))
    assert len(thumbs) == 6

    downloaded = tmp_path / "frame-3.png"
    downloaded.write_bytes(farm.jobs.download_blob(f"{job}/frames/000003.png").readall())
    reference = BlenderRunner()
    reference.open_scene(scene_blend)
    reference.apply(RenderSettings())
    expected = reference.render_frame(3, tmp_path / "expected-3.png")
    assert (decode(downloaded) == decode(expected)).all()


def test_redelivered_chunk_skips_frames_already_uploaded(farm: Farm, scene_blend: Path) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-4", chunk_size=4)
    # As if an earlier delivery had rendered frame 2 before its worker died.
    farm.jobs.upload_blob(f"{job}/frames/000002.png", b"already here")
    farm.start_worker()
    farm.wait_for(job, completed)
    assert farm.jobs.download_blob(f"{job}/frames/000002.png").readall() == b"already here"
    assert len(farm.frame_blobs(job)) == 4


def test_worker_killed_mid_chunk_loses_nothing(farm: Farm, scene_blend: Path) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-200", chunk_size=200)  # seconds of work at 64x64
    first = farm.start_worker()
    farm.wait_for(job, frames_done_at_least(2))
    first.kill()
    first.wait()
    assert farm.status(job)["state"] != "completed"
    farm.start_worker()
    status = farm.wait_for(job, completed)
    assert len(farm.frame_blobs(job)) == 200
    assert status["chunks"][0]["attempts"] >= 2


def test_sigterm_hands_the_message_back_and_exits_zero(
    farm: Farm, scene_blend: Path, farm_bus: ServiceBusEmulator
) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-200", chunk_size=200)
    first = farm.start_worker()
    farm.wait_for(job, frames_done_at_least(1))
    started = time.monotonic()
    assert stop_process(first, signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    counts = farm_bus.counts()
    assert counts["active_message_count"] == 1
    assert counts["locked_message_count"] == 0, "abandoned at once, not left to its lock"
    farm.start_worker()
    farm.wait_for(job, completed)
    assert len(farm.frame_blobs(job)) == 200


def test_corrupt_scene_is_dead_lettered_and_the_job_shows_why(
    farm: Farm, corrupt_blend: Path, farm_bus: ServiceBusEmulator
) -> None:
    sha = farm.upload_scene(corrupt_blend)
    job = farm.submit(sha, frames="1-2", chunk_size=2)
    farm.start_worker()
    status = farm.wait_for(job, lambda s: s["state"] == "failed")
    (chunk,) = status["chunks"]
    assert chunk["state"] == "failed"
    assert "SceneError" in chunk["last_error"]
    assert "corrupt" in chunk["last_error"] or ".blend" in chunk["last_error"]
    assert "/tmp" not in chunk["last_error"]  # no folder of the worker's is shown to clients
    # The job's end is recorded before the worker settles the message: wait for it.
    deadline = time.monotonic() + 10
    while farm_bus.counts()["dead_letter_message_count"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert farm_bus.counts()["dead_letter_message_count"] == 1


def test_cancel_mid_job_stops_the_chunk_and_settles_the_message(
    farm: Farm, scene_blend: Path, farm_bus: ServiceBusEmulator
) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-400", chunk_size=400)  # 64x64 frames render fast
    farm.start_worker()
    farm.wait_for(job, frames_done_at_least(1))
    assert farm.api.post(f"/api/jobs/{job}/cancel", headers=auth()).status_code == 200
    status = farm.wait_for(job, lambda s: s["chunks"][0]["state"] == "cancelled", timeout=30)
    assert status["state"] == "cancelled"
    assert status["frames_done"] < 400
    deadline = time.monotonic() + 10
    while farm_bus.counts()["active_message_count"]:
        assert time.monotonic() < deadline, "the cancelled chunk's message was not settled"
        time.sleep(0.1)


def test_scripts_in_an_untrusted_scene_never_run_on_the_farm(farm: Farm, tmp_path: Path) -> None:
    text_marker, driver_marker = tmp_path / "text-ran", tmp_path / "driver-ran"
    scene = build_scripted_scene(
        tmp_path / "scripted.blend", text_marker=text_marker, driver_marker=driver_marker
    )
    sha = farm.upload_scene(scene)
    job = farm.submit(sha, frames="1-2")
    farm.start_worker()
    farm.wait_for(job, completed)
    assert not text_marker.exists()
    assert not driver_marker.exists()


def test_a_chunk_longer_than_the_lock_keeps_its_lock_and_is_rendered_once(
    farm: Farm, scene_blend: Path
) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-300", chunk_size=300)  # several lock durations of work
    farm.start_worker()
    started = time.monotonic()
    status = farm.wait_for(job, completed)
    assert time.monotonic() - started > 2 * LOCK_SECONDS, "the chunk must outlive its lock"
    assert status["chunks"][0]["attempts"] == 1, "the lock was renewed, never lost"
    assert len(farm.frame_blobs(job)) == 300


def test_once_mode_takes_one_message_and_exits(
    farm: Farm, scene_blend: Path, farm_bus: ServiceBusEmulator
) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-4", chunk_size=2)
    worker = farm.start_worker("--once")
    assert worker.wait(timeout=120) == 0
    status = farm.status(job)
    assert sorted(chunk["state"] for chunk in status["chunks"]) == ["done", "pending"]
    assert farm_bus.counts()["active_message_count"] == 1
