"""A job's end is recorded by whoever settles its last chunk: once, in the manifest, with one
event on the job-events queue, with no status read involved. Over the wire: Azurite and the
Service Bus emulator, the real adapters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.end import LEDGER_BLOB
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.settings import Settings
from renderfarm_azure.job_ledger import job_lifecycle
from testbed.emulators import ServiceBusEmulator
from tests.api.conftest import auth
from tests.services import events_of


@pytest.fixture
def lifecycles(settings: Settings) -> Iterator[list[JobLifecycle]]:
    """Two settlers, each with its own clients, as two workers would have."""
    assert settings.storage_connection_string and settings.servicebus_connection_string
    blobs = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    buses = [
        ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
        for _ in range(2)
    ]
    yield [job_lifecycle(settings, blob_service=blobs, bus=bus) for bus in buses]
    for bus in buses:
        bus.close()
    blobs.close()


def submit(client: TestClient, scene: str, chunks: int) -> str:
    response = client.post(
        "/api/jobs",
        json={"scene_sha256": scene, "frames": f"1-{chunks}", "chunk_size": 1},
        headers=auth(),
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def settle_at_once(lifecycles: list[JobLifecycle], manifest: JobManifest) -> list[str | None]:
    """Chunk i settled DONE by settler i, both released at the same moment."""
    start = threading.Barrier(len(lifecycles))
    outcomes: list[str | None] = []

    def settle(index: int) -> None:
        start.wait()
        outcomes.append(lifecycles[index].chunk_settled(manifest, index, ChunkState.DONE))

    threads = [threading.Thread(target=settle, args=(i,)) for i in range(len(lifecycles))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_settlers_of_the_last_two_chunks_record_one_completion(
    client: TestClient,
    scene: str,
    servicebus: ServiceBusEmulator,
    lifecycles: list[JobLifecycle],
    settings: Settings,
) -> None:
    for _ in range(5):  # the race, several times over
        job_id = submit(client, scene, chunks=2)
        store = lifecycles[0].store
        manifest = store.manifests.read_manifest(job_id)
        assert manifest is not None
        outcomes = settle_at_once(lifecycles, manifest.manifest)
        assert "completed" in outcomes  # at least one saw the full ledger; none saw another end
        assert set(outcomes) <= {"completed", None}
        ended = store.manifests.read_manifest(job_id)
        assert ended is not None
        assert (ended.manifest.outcome, ended.manifest.finished_at is not None) == (
            "completed",
            True,
        )
        types = [event.type.value for event in events_of(servicebus, job_id)]
        assert types == ["job.accepted", "job.completed"]


def test_a_redelivered_last_chunk_records_nothing_new_and_sends_no_second_event(
    client: TestClient,
    scene: str,
    servicebus: ServiceBusEmulator,
    lifecycles: list[JobLifecycle],
) -> None:
    job_id = submit(client, scene, chunks=1)
    store = lifecycles[0].store
    versioned = store.manifests.read_manifest(job_id)
    assert versioned is not None
    assert lifecycles[0].chunk_settled(versioned.manifest, 0, ChunkState.DONE) == "completed"
    first = store.manifests.read_manifest(job_id)
    assert lifecycles[1].chunk_settled(versioned.manifest, 0, ChunkState.DONE) == "completed"
    again = store.manifests.read_manifest(job_id)
    assert first is not None and again is not None
    assert again.manifest.finished_at == first.manifest.finished_at
    types = [event.type.value for event in events_of(servicebus, job_id)]
    assert types == ["job.accepted", "job.completed"]


def test_a_failed_chunk_fails_the_job_once_every_chunk_has_settled(
    client: TestClient,
    scene: str,
    servicebus: ServiceBusEmulator,
    lifecycles: list[JobLifecycle],
) -> None:
    job_id = submit(client, scene, chunks=2)
    store = lifecycles[0].store
    versioned = store.manifests.read_manifest(job_id)
    assert versioned is not None
    manifest = versioned.manifest
    lifecycles[0].chunk_failed(manifest, 0, "SceneError: corrupt")
    assert lifecycles[0].chunk_settled(manifest, 0, ChunkState.FAILED) is None
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"] != "failed"
    assert lifecycles[1].chunk_settled(manifest, 1, ChunkState.DONE) == "failed"
    events = events_of(servicebus, job_id)
    assert [event.type.value for event in events] == [
        "job.accepted",
        "chunk.failed",
        "job.failed",
    ]
    assert events[1].chunk_index == 0
    assert events[1].detail == {"error": "SceneError: corrupt"}


def test_cancelling_records_the_end_at_once_and_says_so(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    job_id = submit(client, scene, chunks=3)
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=auth())
    assert response.json()["state"] == "cancelled"
    assert response.json()["finished_at"] is not None
    client.post(f"/api/jobs/{job_id}/cancel", headers=auth())
    types = [event.type.value for event in events_of(servicebus, job_id)]
    assert types == ["job.accepted", "job.cancelled"]


SETTLERS = 16


@pytest.fixture
def many_lifecycles(settings: Settings) -> Iterator[list[JobLifecycle]]:
    """Settlers each with their own Service Bus client, as workers have."""
    assert settings.storage_connection_string and settings.servicebus_connection_string
    blobs = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    buses = [
        ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
        for _ in range(SETTLERS)
    ]
    yield [job_lifecycle(settings, blob_service=blobs, bus=bus) for bus in buses]
    for bus in buses:
        bus.close()
    blobs.close()


def test_many_settlers_at_once_record_one_end_and_none_gives_up(
    client: TestClient,
    scene: str,
    servicebus: ServiceBusEmulator,
    many_lifecycles: list[JobLifecycle],
) -> None:
    """The single ledger blob lost 14 of 300 settles at 32 settlers (issue 23): the tree has
    no blob that every settler writes, so none can be lost to an etag race."""
    chunks = 100
    job_id = submit(client, scene, chunks=chunks)
    versioned = many_lifecycles[0].store.manifests.read_manifest(job_id)
    assert versioned is not None
    manifest = versioned.manifest
    start = threading.Barrier(SETTLERS)
    outcomes: list[str | None] = []
    errors: list[BaseException] = []

    def settle(worker: int) -> None:
        start.wait()
        for index in range(worker, chunks, SETTLERS):
            try:
                outcomes.append(
                    many_lifecycles[worker].chunk_settled(manifest, index, ChunkState.DONE)
                )
            except Exception as error:
                errors.append(error)

    threads = [threading.Thread(target=settle, args=(i,)) for i in range(SETTLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outcomes.count("completed") >= 1
    assert set(outcomes) <= {"completed", None}
    types = [event.type.value for event in events_of(servicebus, job_id)]
    assert types == ["job.accepted", "job.completed"]


def test_a_failed_chunk_that_finishes_after_all_completes_the_job(
    client: TestClient, scene: str, lifecycles: list[JobLifecycle]
) -> None:
    """The latest word about a chunk wins, up the tree too, until the job's end is written."""
    job_id = submit(client, scene, chunks=2)
    versioned = lifecycles[0].store.manifests.read_manifest(job_id)
    assert versioned is not None
    manifest = versioned.manifest
    assert lifecycles[0].chunk_settled(manifest, 0, ChunkState.FAILED) is None
    assert lifecycles[0].chunk_settled(manifest, 0, ChunkState.DONE) is None
    assert lifecycles[1].chunk_settled(manifest, 1, ChunkState.DONE) == "completed"


def test_a_job_from_before_the_tree_still_ends_through_its_ledger_blob(
    client: TestClient, scene: str, lifecycles: list[JobLifecycle], jobs_container: ContainerClient
) -> None:
    job_id = submit(client, scene, chunks=2)
    store = lifecycles[0].store
    versioned = store.manifests.read_manifest(job_id)
    assert versioned is not None
    legacy = replace(versioned.manifest, ledger=LEDGER_BLOB)
    store.manifests.replace_manifest(legacy, versioned.etag)
    assert lifecycles[0].chunk_settled(legacy, 0, ChunkState.DONE) is None
    assert lifecycles[1].chunk_settled(legacy, 1, ChunkState.DONE) == "completed"
    ledger = jobs_container.download_blob(layout.settled_blob(job_id)).readall()
    assert json.loads(ledger)["chunks"] == "dd"
