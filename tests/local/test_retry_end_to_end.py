"""Retry through the whole local farm, with Blender workers: a job with one chunk made to fail
ends failed; once the cause is gone, ``renderfarm retry`` renders that chunk only (the other
chunks' frames are not written again, as the workers' own upload log lines show) and the job
ends completed, with one ``job.completed`` webhook.

The fault is injected into the workers (tests/local/faulty_worker.py): frames listed in a file
fail as Blender's own errors do. Removing the file fixes the cause without changing the job,
whose scene, file set and settings a retry keeps as they are."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from renderfarm_client.farm_api import FarmClient, JobProgress
from renderfarm_local.local_farm import LocalFarm
from testbed.scenes import build_cycles_scene
from tests.local.conftest import RunningFarm
from tests.local.faulty_farm import farm_with_faults

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
JOB_WAIT_S = 100.0
QUIET_S = 3.0  # how long to keep listening for a second copy of an event
FAULTY_FRAME = 2


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file whose frames the workers fail (absent: none)."""
    return tmp_path_factory.mktemp("faults") / "frames"


@pytest.fixture(scope="module")
def faulty_farm(tmp_path_factory: pytest.TempPathFactory, faults: Path) -> Iterator[RunningFarm]:
    with farm_with_faults(tmp_path_factory.mktemp("local-farm"), faults) as running:
        yield running


class Receiver:
    """A webhook receiver on a free port: every POST's event type, in order."""

    def __init__(self) -> None:
        self.types: list[str] = []
        received = self.types

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append(str(json.loads(body)["type"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def frame_writes(farm: LocalFarm, job_id: str) -> list[int]:
    """The frames of ``job_id`` that workers wrote to Blob, once per write, from the "frame N
    uploaded" lines of their JSON logs (a frame found there already says already-uploaded)."""
    frames: list[int] = []
    for log in sorted(farm.layout.logs.glob("worker*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"uploaded"' not in line:
                continue
            entry = json.loads(line)
            if entry.get("job_id") == job_id and entry.get("status") == "uploaded":
                frames.append(int(entry["frame"]))
    return sorted(frames)


def wait_for_event(receiver: Receiver, event_type: str) -> None:
    deadline = time.monotonic() + JOB_WAIT_S
    while event_type not in receiver.types:
        assert time.monotonic() < deadline, receiver.types
        time.sleep(0.2)


def wait_until(client: FarmClient, job_id: str, done: set[str]) -> JobProgress:
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        progress = client.status(job_id, with_frames=False)
        if progress.state in done:
            return progress
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not reach {done} in {JOB_WAIT_S} s")


def test_a_retry_renders_only_the_failed_chunk_and_the_job_completes_once(
    faulty_farm: RunningFarm, faults: Path, receiver: Receiver, tmp_path: Path
) -> None:
    endpoints = faulty_farm.farm.endpoints
    hook = httpx.post(
        f"{endpoints.api_url}/api/webhooks",
        json={"url": receiver.url, "events": ["job.failed", "job.retried", "job.completed"]},
        headers={"Authorization": f"Bearer {endpoints.api_key}"},
    )
    assert hook.status_code == 201, hook.text
    faults.write_text(str(FAULTY_FRAME), encoding="utf-8")
    scene = build_cycles_scene(tmp_path / "scene.blend")
    with FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key) as client:
        sha, _ = client.ensure_scene(scene)
        job_id = client.submit({"scene_sha256": sha, "frames": "1-3", "chunk_size": 1}).job_id
        failed = wait_until(client, job_id, {"failed", "completed", "cancelled"})
        assert failed.state == "failed"
        assert [chunk.state for chunk in failed.chunks] == ["done", "failed", "done"]
        assert "injected fault" in (failed.chunks[1].last_error or "")
        assert frame_writes(faulty_farm.farm, job_id) == [1, 3]

        # Deliveries of separate events may arrive in any order: retry once the failure is
        # heard, as its owner would.
        wait_for_event(receiver, "job.failed")
        faults.unlink()  # the cause is gone; the job is as it was
        retried = faulty_farm.cli("retry", job_id)
        assert retried.code == 0, retried.stderr
        assert "renders 1 chunk (1 frames) again" in retried.stdout, retried.stdout

        completed = wait_until(client, job_id, {"completed", "failed", "cancelled"})
        assert completed.state == "completed"
        assert completed.frames_done == 3
    # Frames 1 and 3 were written once, by the first round; the retry wrote frame 2 only.
    assert frame_writes(faulty_farm.farm, job_id) == [1, 2, 3]
    wait_for_event(receiver, "job.completed")
    time.sleep(QUIET_S)
    assert receiver.types == ["job.failed", "job.retried", "job.completed"]
    again = faulty_farm.cli("retry", job_id)
    assert again.code == 0, again.stderr
    assert "completed: nothing to retry" in again.stdout
