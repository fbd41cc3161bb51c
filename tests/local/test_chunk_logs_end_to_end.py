"""Per-chunk logs through the whole local farm: real Blender workers write each attempt's log to
Azurite while the chunk renders, the API serves it, and ``renderfarm logs`` prints and follows
it. A log holds the lines of its own attempt only, and none of the worker's folders."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from renderfarm.wire import ChunkLogPage
from renderfarm_client.farm_api import FarmClient, FarmError, JobProgress
from renderfarm_local.services import REPO
from testbed.scenes import build_cycles_scene
from tests.local.conftest import CLI_TIMEOUT_S, RunningFarm

pytestmark = [pytest.mark.local_farm, pytest.mark.slow, pytest.mark.timeout(300)]
WAIT_S = 120.0
#: A chunk long enough to be read while it renders: it is cancelled once that is seen.
LONG_CHUNK = {"frames": "1-400", "chunk_size": 400, "render": {"samples": 64}}


@pytest.fixture(scope="module")
def client(local_farm: RunningFarm) -> Iterator[FarmClient]:
    endpoints = local_farm.farm.endpoints
    with FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key) as farm_client:
        yield farm_client


@pytest.fixture(scope="module")
def scene_sha(client: FarmClient, tmp_path_factory: pytest.TempPathFactory) -> str:
    scene = build_cycles_scene(tmp_path_factory.mktemp("scenes") / "logs.blend")
    sha, _ = client.ensure_scene(scene)
    return sha


@pytest.fixture(scope="module")
def finished_job(client: FarmClient, scene_sha: str) -> str:
    """A two-frame job rendered to its end, before the long ones (which are cancelled long
    before their frame 900)."""
    job = client.submit({"scene_sha256": scene_sha, "frames": "900-901", "chunk_size": 2})
    progress = _wait(lambda: client.status(job.job_id, with_frames=False), _over)
    assert progress.state == "completed", progress
    return job.job_id


def _over(progress: JobProgress) -> bool:
    return progress.is_over


def _wait(read: Callable[[], Any], done: Callable[[Any], bool], *, every: float = 0.2) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"never got there: {value}"
        time.sleep(every)


def _log(client: FarmClient, job_id: str, chunk: int = 0) -> ChunkLogPage | None:
    try:
        page, _ = client.chunk_log(job_id, chunk)
    except FarmError:  # no log yet (a 404) while the chunk waits for a worker
        return None
    return page


def _rendering(page: ChunkLogPage | None) -> bool:
    return page is not None and page.ended_at is None and "frame 2 rendered" in page.text


def test_a_log_is_readable_while_its_chunk_renders_and_after_with_that_attempts_lines_only(
    client: FarmClient, scene_sha: str, finished_job: str, local_farm: RunningFarm
) -> None:
    job = client.submit({"scene_sha256": scene_sha, **LONG_CHUNK})
    running = _wait(lambda: _log(client, job.job_id), _rendering)
    assert running.attempt == 1 and running.attempts == (1,)
    assert "attempt 1 at chunk 0 (frames 1-400)" in running.text
    assert "frame 1 uploaded" in running.text

    client.cancel(job.job_id)
    ended = _wait(lambda: _log(client, job.job_id), lambda page: page.ended_at is not None)
    text = ended.text
    assert text.startswith(running.text)  # the same attempt's log, grown
    assert "the job was cancelled: the chunk stops" in text
    # Nothing of the job this replica may have rendered before (its frames, its chunk), nor
    # the worker's JSON log records that other threads wrote while Blender's output was taken.
    assert "frame 900" not in text and "frames 900-901" not in text
    assert finished_job not in text and '"logger":' not in text
    # None of the worker's folders: its caches are in the farm's folder, its scratch in /tmp.
    assert str(local_farm.farm.layout.root) not in text and "/tmp" not in text

    before = client.chunk_log(finished_job, 0)[0]
    assert before is not None and before.ended_at is not None
    assert "chunk done: 2 frames rendered" in before.text
    assert "frame 1 " not in before.text and job.job_id not in before.text
    assert "frame 900 uploaded" in before.text


def test_renderfarm_logs_prints_the_blender_log_of_a_chunk(
    local_farm: RunningFarm, finished_job: str
) -> None:
    result = local_farm.cli("logs", finished_job)
    assert result.code == 0, result.stderr
    # Blender's own line (it opened the scene for this job) and the worker's, in one log.
    assert "Read blend:" in result.stdout and ".blend" in result.stdout
    assert "frame 900 rendered in" in result.stdout
    assert "chunk done: 2 frames rendered" in result.stdout
    assert f"job {finished_job} chunk 0 attempt 1" in result.stderr
    again = local_farm.cli("logs", finished_job, "--chunk", "0", "--attempt", "1")
    assert again.stdout == result.stdout
    missing = local_farm.cli("logs", finished_job, "--chunk", "0", "--attempt", "9")
    assert missing.code == 1
    assert "no log of attempt 9" in missing.stderr and "Traceback" not in missing.stderr


def test_renderfarm_logs_follow_prints_new_lines_and_stops_when_the_attempt_ends(
    local_farm: RunningFarm, client: FarmClient, scene_sha: str
) -> None:
    job = client.submit({"scene_sha256": scene_sha, **LONG_CHUNK})
    follower = subprocess.Popen(
        [sys.executable, "-m", "renderfarm_cli", "logs", job.job_id, "--follow"],
        cwd=REPO,
        env={
            **os.environ,
            "RENDERFARM_API_URL": local_farm.farm.endpoints.api_url,
            "RENDERFARM_API_KEY": local_farm.farm.endpoints.api_key,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            lines.append(line)
            if "frame 2 uploaded" in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(WAIT_S), "".join(lines)
        client.cancel(job.job_id)  # the attempt ends: the follower stops by itself
        follower.wait(timeout=CLI_TIMEOUT_S)
    finally:
        if follower.poll() is None:
            follower.kill()
    reader.join(timeout=10)
    assert follower.stderr is not None
    stderr = follower.stderr.read()
    assert follower.returncode == 0, stderr
    text = "".join(lines)
    assert "attempt 1 at chunk 0 (frames 1-400)" in text
    assert text.rstrip().endswith("the job was cancelled: the chunk stops")
    assert "attempt 1 ended at" in stderr
