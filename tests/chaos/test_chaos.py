"""Parts of a running farm die mid-job, and the farm heals: every frame arrives once, no chunk
fails, no job is lost or doubled."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from renderfarm.jobs.idempotency import job_id_for
from renderfarm.shared import blob_layout
from renderfarm_client.farm_api import JobProgress
from renderfarm_local.local_farm import LOCAL_TENANT
from tests.chaos.conftest import RENDER, HurtFarm, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.local_farm, pytest.mark.slow, pytest.mark.timeout(300)]

FRAMES = 48
CHUNK_SIZE = 6


def submit(hurt: HurtFarm, frames: int = FRAMES, chunk_size: int = CHUNK_SIZE) -> str:
    with hurt.client() as client:
        sha, _ = client.ensure_scene(hurt.scene)
        body = {
            "scene_sha256": sha,
            "frames": f"1-{frames}",
            "chunk_size": chunk_size,
            "render": RENDER,
        }
        return client.submit(body).job_id


def assert_every_frame_arrived_once(hurt: HurtFarm, progress: JobProgress, frames: int) -> None:
    assert progress.state == "completed", (progress.state, progress.error, progress.chunks)
    assert progress.frames_done == frames
    assert progress.frames_failed == 0
    assert all(chunk.state == "done" for chunk in progress.chunks), progress.chunks
    assert sorted(progress.frame_urls) == list(range(1, frames + 1))
    prefix = blob_layout.frames_prefix(progress.job_id)
    assert len(list(hurt.jobs_container().list_blob_names(name_starts_with=prefix))) == frames
    # Written once: the workers' logs name each frame blob they wrote (a later delivery that
    # finds it there logs "already-uploaded" and leaves it be).
    writes = Counter(hurt.frame_writes(progress.job_id))
    assert writes == Counter(range(1, frames + 1))


def rendering_worker_pid(hurt: HurtFarm, job_id: str) -> int | None:
    """A live worker that has started a chunk of this job and not settled it (its pid is in the
    chunk record's worker id)."""
    alive = {worker.pid for pool in hurt.farm.workers().values() for worker in pool}
    for record in hurt.chunk_records(job_id):
        if record.get("state") != "rendering" or not record.get("worker_id"):
            continue
        pid = int(str(record["worker_id"]).rsplit("-", 2)[1])
        if pid in alive:
            return pid
    return None


def test_three_worker_kills_mid_job_lose_no_frame_and_fail_no_chunk(hurt_farm: HurtFarm) -> None:
    job_id = submit(hurt_farm)
    killed: list[int] = []

    def mid_chunk() -> bool:
        pid = rendering_worker_pid(hurt_farm, job_id)
        if pid is None or pid in killed:
            return False
        killed.append(pid)
        return True

    for kill in range(3):
        wait_for(mid_chunk, f"a worker mid-chunk for kill {kill + 1}", timeout_s=120)
        workers = {w.pid: w for pool in hurt_farm.farm.workers().values() for w in pool}
        workers[killed[-1]].signal_group(signal.SIGKILL)

    progress = hurt_farm.wait_until_over(job_id)
    assert_every_frame_arrived_once(hurt_farm, progress, FRAMES)
    assert sum(chunk.attempts for chunk in progress.chunks) >= FRAMES // CHUNK_SIZE + 3


def test_killing_the_api_mid_burst_loses_and_doubles_no_job(hurt_farm: HurtFarm) -> None:
    keys = [f"burst-{n:02d}" for n in range(12)]
    with hurt_farm.client() as client:
        sha, _ = client.ensure_scene(hurt_farm.scene)
        earlier = {job.job_id for job in client.jobs(limit=100)}  # the other tests' jobs
    body: dict[str, Any] = {"scene_sha256": sha, "frames": "1", "render": RENDER}
    accepted = threading.Semaphore(0)

    def submit_one(key: str) -> str:
        with hurt_farm.client() as client:  # retries, every try with the same key
            job_id = client.submit(body, idempotency_key=key).job_id
        accepted.release()
        return job_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(submit_one, key) for key in keys]
        for _ in range(3):
            accepted.acquire(timeout=60)
        hurt_farm.kill_service("api")  # while the other submissions are in flight
        job_ids = [future.result(timeout=120) for future in futures]

    assert job_ids == [job_id_for(LOCAL_TENANT, key) for key in keys]
    with hurt_farm.client() as client:
        listed = [job.job_id for job in client.jobs(limit=100) if job.job_id not in earlier]
        assert sorted(listed) == sorted(job_ids)  # none lost, none doubled
        for key, job_id in zip(keys, job_ids, strict=True):
            assert client.submit(body, idempotency_key=key).job_id == job_id
    for job_id in job_ids:
        assert_every_frame_arrived_once(hurt_farm, hurt_farm.wait_until_over(job_id), 1)


@pytest.mark.parametrize("service", ["servicebus", "azurite"])
def test_a_killed_emulator_is_restarted_and_the_job_completes(
    hurt_farm: HurtFarm, service: str
) -> None:
    restarts = hurt_farm.restarts(service)
    job_id = submit(hurt_farm)
    hurt_farm.wait_for_frames(job_id, at_least=4)
    hurt_farm.kill_service(service)
    progress = hurt_farm.wait_until_over(job_id)
    assert_every_frame_arrived_once(hurt_farm, progress, FRAMES)
    assert hurt_farm.restarts(service) == restarts + 1
