"""Priority over the wire: the real API, Service Bus emulator, Azurite and one Blender worker of
the local farm. A high-priority job submitted behind a low-priority backlog starts within one
chunk time: its chunk is taken before every low chunk that was not already in flight."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from renderfarm_client.farm_api import FarmClient, JobProgress
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from testbed.scenes import build_cycles_scene
from tests.local.conftest import TEST_SCALING

pytestmark = [pytest.mark.local_farm, pytest.mark.slow, pytest.mark.timeout(300)]
WAIT_S = 120.0
BACKLOG = 6  # one-frame low chunks
#: Tiny frames: the test is about order, not pixels.
RENDER = {"resolution_x": 64, "resolution_y": 48, "samples": 2}
#: The receive probe of the high queue, a chunk record's write, the API's status read.
SLACK_S = 3.0


@pytest.fixture(scope="module")
def one_worker_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    farm = LocalFarm(
        layout=FarmLayout(root=tmp_path_factory.mktemp("priority-farm")),
        ports=FarmPorts.free(),
        scaling=replace(TEST_SCALING, max_replicas=1),  # one worker: one chunk in flight
    )
    farm.start()
    try:
        yield farm
    finally:
        farm.stop()


def job(sha: str, frames: str, priority: str) -> dict[str, Any]:
    return {
        "scene_sha256": sha,
        "frames": frames,
        "chunk_size": 1,
        "priority": priority,
        "render": RENDER,
    }


def wait_for(
    client: FarmClient, job_id: str, done: Any, *, timeout: float = WAIT_S, every: float = 0.1
) -> JobProgress:
    deadline = time.monotonic() + timeout
    while True:
        progress = client.status(job_id, with_frames=False)
        if done(progress):
            return progress
        assert time.monotonic() < deadline, f"job {job_id} never got there: {progress}"
        time.sleep(every)


def starts(progress: JobProgress) -> list[datetime]:
    return sorted(chunk.started_at for chunk in progress.chunks if chunk.started_at is not None)


def test_a_high_job_behind_a_low_backlog_starts_within_one_chunk_time(
    one_worker_farm: LocalFarm, tmp_path: Path
) -> None:
    scene = build_cycles_scene(tmp_path / "priority.blend")
    farm = one_worker_farm
    with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as client:
        sha, _ = client.ensure_scene(scene)
        low = client.submit(job(sha, f"1-{BACKLOG}", "low"))
        assert low.chunk_count == BACKLOG
        # The worker scales from zero and takes the first low chunk: the backlog is behind it.
        wait_for(client, low.job_id, lambda p: len(starts(p)) >= 1, every=0.05)
        submitted = datetime.now(UTC)
        high = client.submit(job(sha, "1", "high"))
        submitted_by = datetime.now(UTC)
        high_done = wait_for(client, high.job_id, lambda p: p.is_over)
        low_done = wait_for(client, low.job_id, lambda p: p.is_over)

    assert high_done.state == "completed", high_done
    assert low_done.state == "completed", low_done
    (high_start,) = starts(high_done)
    low_starts = starts(low_done)
    assert len(low_starts) == BACKLOG
    # At most the one chunk the single worker held (or was taking) when the high job came in
    # starts between its submission and its start; every other low chunk waits for it.
    overtaken_by = [at for at in low_starts if submitted < at < high_start]
    assert len(overtaken_by) <= 1, (submitted, high_start, low_starts)
    # The backlog was real: low chunks were still waiting when the high one started.
    assert sum(at > high_start for at in low_starts) >= 2, (high_start, low_starts)
    # Within one chunk time: the longest low chunk, start to end, and the wait to ask the queue.
    chunk_s = max(
        (chunk.finished_at - chunk.started_at).total_seconds()
        for chunk in low_done.chunks
        if chunk.started_at is not None and chunk.finished_at is not None
    )
    waited_s = (high_start - submitted_by).total_seconds()
    assert waited_s <= chunk_s + SLACK_S, (waited_s, chunk_s)
