"""What the scouting tests share: submitting a scouted job, and settling its scout chunks as
their workers would (a record done, with worker seconds, then the settle), over the wire."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.scouting import scout_chunks
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_records import update_chunk_record
from renderfarm_azure.job_ledger import job_lifecycle
from tests.api.conftest import auth

#: What one scout chunk of one frame cost its worker.
SCOUT_USAGE = ChunkUsage(
    worker_s=2.0, download_s=0.1, open_s=0.5, render_s=1.0, upload_s=0.1, uploaded_bytes=50_000
)


def submit(client: TestClient, scene: str, **fields: Any) -> dict[str, Any]:
    body = {"scene_sha256": scene, "frames": "1-10", "chunk_size": 2, **fields}
    response = client.post("/api/jobs", json=body, headers=auth())
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def status(client: TestClient, job_id: str, tenant: str = "acme") -> dict[str, Any]:
    response = client.get(f"/api/jobs/{job_id}", headers=auth(tenant))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@contextmanager
def lifecycle_for(settings: Settings) -> Iterator[JobLifecycle]:
    """A settler's lifecycle, with its own clients, as a worker has."""
    assert settings.storage_connection_string and settings.servicebus_connection_string
    blobs = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    bus = ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
    try:
        yield job_lifecycle(settings, blob_service=blobs, bus=bus)
    finally:
        bus.close()
        blobs.close()


def manifest_of(lifecycle: JobLifecycle, job_id: str) -> JobManifest:
    stored = lifecycle.store.manifests.read_manifest(job_id)
    assert stored is not None
    return stored.manifest


def record_scout_done(
    jobs: ContainerClient, manifest: JobManifest, index: int, usage: ChunkUsage = SCOUT_USAGE
) -> None:
    """The scout chunk's record, written done as its worker writes it before settling."""
    [chunk] = [chunk for chunk in scout_chunks(manifest) if chunk.index == index]
    record = ChunkRecord(
        job_id=manifest.job_id,
        chunk_index=index,
        state=ChunkState.DONE,
        attempts=1,
        frames_done=chunk.frames,
        usage=usage,
    )
    update_chunk_record(jobs, manifest.job_id, index, lambda _: record)


def settle_scouts(jobs: ContainerClient, lifecycle: JobLifecycle, job_id: str) -> JobManifest:
    """Every scout chunk done and settled, one after another; the manifest after."""
    manifest = manifest_of(lifecycle, job_id)
    for chunk in scout_chunks(manifest):
        record_scout_done(jobs, manifest, chunk.index)
        assert lifecycle.chunk_settled(manifest, chunk.index, ChunkState.DONE) is None
    return manifest_of(lifecycle, job_id)
