"""A job's status shows its previews (read URLs that download) and what it cost."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from azure.storage.blob import ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.cost import current_prices
from renderfarm.jobs.manifest import JobManifest
from renderfarm_azure.chunk_records import update_chunk_record
from renderfarm_azure.previews import build_previews
from tests.api.conftest import auth
from tests.previews.conftest import job_manifest, put_job, store

USAGE = ChunkUsage(
    worker_s=20.0, download_s=1.0, open_s=0.5, render_s=15.0, upload_s=2.0, uploaded_bytes=200_000
)


def written_as(record: ChunkRecord) -> Callable[[ChunkRecord | None], ChunkRecord]:
    return lambda _: record


def finished_job(client: TestClient, jobs: ContainerClient, frames: str = "1-4") -> str:
    """A job whose frames and chunk records (with worker seconds) are all in Blob."""
    assert client.get("/api/health").status_code == 200  # the API makes its containers
    manifest = job_manifest(frames)
    put_job(jobs, manifest)
    for chunk in manifest.chunks:
        record = ChunkRecord(
            job_id=manifest.job_id,
            chunk_index=chunk.index,
            state=ChunkState.DONE,
            attempts=1,
            frames_done=chunk.frames,
            usage=USAGE,
        )
        update_chunk_record(jobs, manifest.job_id, chunk.index, written_as(record))
    return manifest.job_id


def test_previews_are_null_until_built_then_their_urls_download(
    client: TestClient, jobs_container: ContainerClient
) -> None:
    job_id = finished_job(client, jobs_container)
    before = client.get(f"/api/jobs/{job_id}", headers=auth())
    assert before.status_code == 200, before.text
    assert before.json()["state"] == "completed"
    assert before.json()["previews"] is None

    built = build_previews(jobs_container, stored_manifest(jobs_container, job_id))
    assert built is not None
    previews = client.get(f"/api/jobs/{job_id}", headers=auth()).json()["previews"]
    sheet = httpx.get(previews["contact_sheet_url"])
    video = httpx.get(previews["video_url"])
    assert sheet.status_code == 200 and sheet.content.startswith(b"\x89PNG")
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert video.headers["content-type"] == "video/mp4"


def test_status_shows_a_positive_cost_from_the_chunks_worker_seconds(
    client: TestClient, jobs_container: ContainerClient
) -> None:
    job_id = finished_job(client, jobs_container, frames="1-6")
    status = client.get(f"/api/jobs/{job_id}", headers=auth()).json()
    chunks = len(status["chunks"])
    cost = status["cost"]
    assert cost["worker_seconds"] == chunks * USAGE.worker_s
    assert cost["render_seconds"] == chunks * USAGE.render_s
    assert cost["estimated_usd"] > 0
    assert cost["usd_per_frame"] == pytest.approx(cost["estimated_usd"] / 6)
    assert cost["prices_as_of"] == current_prices().as_of.isoformat()


def test_a_job_no_worker_has_timed_has_no_cost(
    client: TestClient, jobs_container: ContainerClient
) -> None:
    assert client.get("/api/health").status_code == 200
    manifest = job_manifest("1-2")
    put_job(jobs_container, manifest)
    status = client.get(f"/api/jobs/{manifest.job_id}", headers=auth()).json()
    assert status["cost"] is None


def stored_manifest(jobs: ContainerClient, job_id: str) -> JobManifest:
    versioned = store(jobs).read_manifest(job_id)
    assert versioned is not None
    return versioned.manifest
