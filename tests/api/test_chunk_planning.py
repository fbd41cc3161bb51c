"""Chunk sizes the API plans when a job names none: from what earlier renders of the scene with
the same settings measured, else spread over the replicas, and the status says which and why."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.plan import SceneTimings, settings_key
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.events import JobEvent
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.render_settings import RenderSettings
from renderfarm.shared.settings import Settings
from renderfarm_azure.job_ledger import lifecycle_stores
from renderfarm_azure.job_store import BlobJobStores
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import auth, settings_for, upload_scene

TENANT = "acme"


class NoEvents:
    def publish(self, events: Sequence[JobEvent]) -> None:
        pass


def jobs_container(settings: Settings) -> ContainerClient:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    return service.get_container_client(settings.jobs_container)


def jobs_store(settings: Settings) -> BlobJobStores:
    breaker = CircuitBreaker(name="blob", threshold=5, open_seconds=1, clock=time.monotonic)
    return BlobJobStores.in_container(container=jobs_container(settings), breaker=breaker)


def written_as(record: ChunkRecord) -> Callable[[ChunkRecord | None], ChunkRecord]:
    return lambda _: record


def submit(client: TestClient, scene: str, frames: str, **extra: object) -> dict[str, object]:
    answer = client.post(
        "/api/jobs", json={"scene_sha256": scene, "frames": frames, **extra}, headers=auth()
    )
    assert answer.status_code == 202, answer.text
    job: dict[str, object] = answer.json()
    return job


def farm_client(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> tuple[TestClient, Settings]:
    settings = settings_for(azurite, servicebus, worker_max_replicas=10, worker_start_seconds=20.0)
    return make_client(settings), settings


def test_a_job_with_nothing_measured_gets_about_four_chunks_per_replica(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    client, _ = farm_client(azurite, servicebus, make_client)
    job = submit(client, upload_scene(client), "1-400")
    assert (job["chunk_size"], job["chunk_count"]) == (10, 40)
    status = client.get(f"/api/jobs/{job['job_id']}", headers=auth()).json()
    assert status["chunking"]["source"] == "default"
    assert "nothing measured yet" in status["chunking"]["reason"]
    assert "10 replicas" in status["chunking"]["reason"]


def test_earlier_timings_of_the_scene_plan_its_next_job(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    client, settings = farm_client(azurite, servicebus, make_client)
    scene = upload_scene(client)
    measured = SceneTimings(seconds_per_frame=30.0, chunk_overhead_s=0.5, open_s=1.0, frames=48)
    jobs_store(settings).timings.record_scene_timings(
        TENANT, scene, settings_key(RenderSettings()), measured
    )
    job = submit(client, scene, "1-250")
    assert job["chunk_size"] == 5  # 50 chunks: five full rounds of 10 replicas
    chunking = client.get(f"/api/jobs/{job['job_id']}", headers=auth()).json()["chunking"]
    assert chunking["source"] == "measured" and chunking["seconds_per_frame"] == 30.0
    assert "30.00 s per frame" in chunking["reason"]
    # Timings under other settings say nothing about these: planned as if unmeasured.
    other = submit(client, scene, "1-250", render={"samples": 8})
    assert other["chunking"]["source"] == "default"  # type: ignore[index]


def test_a_chunk_size_the_client_gives_is_kept_and_said_to_be_its(client: TestClient) -> None:
    job = submit(client, upload_scene(client), "1-20", chunk_size=7)
    assert job["chunk_size"] == 7
    assert job["chunking"] == {
        "size": 7,
        "source": "client",
        "reason": "7 frames per chunk, as asked",
        "seconds_per_frame": None,
    }


def test_unreadable_timings_plan_as_if_nothing_was_measured(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    client, settings = farm_client(azurite, servicebus, make_client)
    scene = upload_scene(client)
    blob = f"_timings/{TENANT}/{scene}/{settings_key(RenderSettings())}.json"
    jobs_container(settings).upload_blob(blob, b"{not json", overwrite=True)
    job = submit(client, scene, "1-40")
    assert job["chunking"]["source"] == "default"  # type: ignore[index]


def test_a_completed_job_leaves_its_timings_for_the_next(
    client: TestClient, settings: Settings
) -> None:
    scene = upload_scene(client)
    job = submit(client, scene, "1-12", chunk_size=6)
    job_id = str(job["job_id"])
    store = jobs_store(settings)
    usages = {
        0: ChunkUsage(worker_s=8.0, download_s=0.5, open_s=1.5, render_s=5.4),
        1: ChunkUsage(worker_s=6.0, render_s=5.4),  # the replica kept the scene open
    }
    for index, usage in usages.items():
        record = ChunkRecord(
            job_id=job_id, chunk_index=index, state=ChunkState.DONE, attempts=1, usage=usage
        )
        store.chunks.update_chunk_record(job_id, index, written_as(record))
    lifecycle = JobLifecycle(
        store=lifecycle_stores(jobs_container(settings), store),
        events=NoEvents(),
        clock=lambda: datetime.now(UTC),
    )
    assert lifecycle.record_end(job_id, "completed") == "completed"
    timings = store.timings.read_scene_timings(TENANT, scene, settings_key(RenderSettings()))
    assert timings is not None
    assert timings.seconds_per_frame == 0.9  # 10.8 s over 12 frames
    assert timings.open_s == 2.0 and timings.frames == 12
