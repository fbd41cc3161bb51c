"""A process re-reads an unchanged manifest with a 304, and sees another process's change."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.manifest_store import BlobManifests
from testbed.emulators import Azurite
from tests.job_manifests import new_manifest


@pytest.fixture
def container(azurite: Azurite) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return service.create_container(f"jobs-{uuid.uuid4().hex[:12]}")


def store(container: ContainerClient) -> BlobManifests:
    breaker = CircuitBreaker(name="blob", threshold=5, open_seconds=1, clock=time.monotonic)
    return BlobManifests(container=container, breaker=breaker)


def manifest() -> JobManifest:
    return new_manifest(
        "1-10000",
        chunk_size=None,
        job_id=uuid.uuid4().hex,
        tenant="studio",
        created_at=datetime.now(UTC),
        scene_sha256="a" * 64,
    )


def test_an_unchanged_manifest_is_not_parsed_again(container: ContainerClient) -> None:
    api = store(container)
    job = manifest()
    etag = api.create_manifest(job)
    first = api.read_manifest(job.job_id)
    again = api.read_manifest(job.job_id)
    assert first is not None and first.etag == etag
    assert again is first  # the answer was a 304: the parsed manifest is reused


def test_a_change_by_another_process_is_read(container: ContainerClient) -> None:
    api, worker = store(container), store(container)
    job = manifest()
    api.create_manifest(job)
    seen = api.read_manifest(job.job_id)
    assert seen is not None
    started = worker.read_manifest(job.job_id)
    assert started is not None
    worker.replace_manifest(started.manifest.started(datetime.now(UTC)), started.etag)
    now = api.read_manifest(job.job_id)
    assert now is not None and now.manifest.started_at is not None and now.etag != seen.etag


def test_a_deleted_manifest_is_not_served_from_memory(container: ContainerClient) -> None:
    api = store(container)
    job = manifest()
    api.create_manifest(job)
    assert api.read_manifest(job.job_id) is not None
    container.delete_blob(f"{job.job_id}/job.json")
    assert api.read_manifest(job.job_id) is None
