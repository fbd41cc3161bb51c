"""Submitting, reading, listing and cancelling jobs over the wire."""

from __future__ import annotations

import hashlib
import json
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from azure.storage.blob import ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.record import PROGRESS_EVERY_S, ChunkRecord, ChunkState
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.shared import blob_layout as layout
from renderfarm_azure.chunk_records import update_chunk_record
from testbed.emulators import ServiceBusEmulator
from tests.api.conftest import auth, drain_messages, properties_of


def submit(client: TestClient, scene: str, **fields: object) -> httpx.Response:
    body = {"scene_sha256": scene, "frames": "1-10", **fields}
    response: httpx.Response = client.post("/api/jobs", json=body, headers=auth())
    return response


def write_record(container: ContainerClient, record: ChunkRecord) -> None:
    """As a worker writes it: the record and its metadata summary."""
    update_chunk_record(container, record.job_id, record.chunk_index, lambda _: record)


def write_rendering(container: ContainerClient, job_id: str, index: int, frames: range) -> None:
    """A chunk's record as its worker leaves it after uploading ``frames``."""
    record = ChunkRecord(
        job_id=job_id,
        chunk_index=index,
        state=ChunkState.RENDERING,
        attempts=1,
        frames_done=tuple(frames),
    )
    write_record(container, record)


def put_frames(container: ContainerClient, job_id: str, frames: range, ext: str = "png") -> None:
    for frame in frames:
        container.upload_blob(layout.frame_blob(job_id, frame, ext), f"frame {frame}".encode())


def test_health_says_blob_and_service_bus_answer(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "blob_storage": "ok", "service_bus": "ok"}


def test_a_new_scene_gets_an_upload_url_and_then_is_known(client: TestClient) -> None:
    data = b"a scene nobody uploaded before"
    sha = hashlib.sha256(data).hexdigest()
    first = client.post("/api/scenes", json={"sha256": sha, "size": len(data)}, headers=auth())
    assert first.json()["exists"] is False
    assert first.json()["upload_method"] == "PUT"
    put = httpx.put(
        first.json()["upload_url"], content=data, headers={"x-ms-blob-type": "BlockBlob"}
    )
    assert put.status_code == 201
    again = client.post("/api/scenes", json={"sha256": sha, "size": len(data)}, headers=auth())
    assert again.json() == {
        "sha256": sha,
        "exists": True,
        "upload_url": None,
        "upload_method": None,
        "upload_headers": None,
        "expires_at": None,
    }


def test_submit_writes_the_manifest_and_one_message_per_chunk(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator, jobs_container: ContainerClient
) -> None:
    response = submit(
        client, scene, chunk_size=4, render={"engine": "CYCLES", "samples": 16}, priority=7
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/api/jobs/{job['job_id']}"
    assert (job["chunk_count"], job["enqueue_state"], job["state"]) == (3, "enqueued", "queued")
    manifest = json.loads(
        jobs_container.download_blob(layout.manifest_blob(job["job_id"])).readall()
    )
    assert manifest["tenant"] == "acme"
    assert manifest["enqueue_state"] == "enqueued"
    # Priority 7 is the high band: its chunks wait in the pool's high queue.
    messages = drain_messages(
        servicebus, job["job_id"], expected=3, queue=f"{servicebus.queue_name}-high"
    )
    assert sorted(str(m.message_id) for m in messages) == [f"{job['job_id']}:{i}" for i in range(3)]
    bodies = sorted(
        (ChunkMessage.from_json(b"".join(m.body)) for m in messages), key=lambda m: m.chunk_index
    )
    assert [b.frames for b in bodies] == [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10)]
    assert {b.priority for b in bodies} == {7}
    assert bodies[0].render.samples == 16
    properties = properties_of(messages[0])
    assert properties["traceparent"].startswith("00-")
    assert properties["job_id"] == job["job_id"]


def test_the_trace_of_the_request_carries_into_each_message(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = client.post(
        "/api/jobs",
        json={"scene_sha256": scene, "frames": "1"},
        headers={**auth(), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    [message] = drain_messages(servicebus, response.json()["job_id"], expected=1)
    traceparent = properties_of(message)["traceparent"]
    assert traceparent.split("-")[1] == trace_id


def test_a_ten_thousand_frame_job_is_planned_and_fully_enqueued(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    response = submit(client, scene, frames="1-10000")
    assert response.status_code == 202, response.text
    assert (response.json()["chunk_count"], response.json()["chunk_size"]) == (100, 100)
    messages = drain_messages(servicebus, response.json()["job_id"], expected=100)
    assert len({m.message_id for m in messages}) == 100
    status = client.get(response.headers["Location"], headers=auth()).json()
    assert (status["state"], status["frames_total"], len(status["chunks"])) == (
        "queued",
        10000,
        100,
    )


def test_an_idempotent_retry_returns_the_same_job_without_new_messages(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    key = {"Idempotency-Key": "order-42", **auth()}
    body = {"scene_sha256": scene, "frames": "1-3", "chunk_size": 1}
    first = client.post("/api/jobs", json=body, headers=key)
    again = client.post("/api/jobs", json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(drain_messages(servicebus, first.json()["job_id"], expected=4)) == 3
    other = client.post("/api/jobs", json={**body, "frames": "1-4"}, headers=key)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_status_counts_frames_present_and_reports_chunk_records(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = submit(client, scene, chunk_size=5).json()["job_id"]
    put_frames(jobs_container, job_id, range(1, 8))
    now = datetime.now(UTC)
    # Chunk 0 has all its frames and has yet to say it is done: the frames say so.
    write_rendering(jobs_container, job_id, 0, range(1, 6))
    write_record(
        jobs_container,
        ChunkRecord(
            job_id=job_id,
            chunk_index=1,
            state=ChunkState.RENDERING,
            attempts=2,
            started_at=now,
            frames_done=(6, 7),
        ).with_error("GPU fell over"),
    )
    status = client.get(f"/api/jobs/{job_id}", headers=auth(), params={"frames_limit": 3})
    assert status.status_code == 200
    body = status.json()
    assert (body["state"], body["frames_done"], body["frames_total"]) == ("rendering", 7, 10)
    assert [c["state"] for c in body["chunks"]] == ["done", "rendering"]
    assert body["chunks"][1]["attempts"] == 2
    assert body["chunks"][1]["last_error"] == "GPU fell over"
    assert [f["frame"] for f in body["frame_urls"]] == [1, 2, 3]
    assert body["frame_urls_next_offset"] == 3
    assert httpx.get(body["frame_urls"][0]["url"]).content == b"frame 1"


def test_a_job_whose_frames_are_all_present_is_completed(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    submitted = submit(client, scene, render={"output_format": "OPEN_EXR"}).json()
    job_id = submitted["job_id"]
    put_frames(jobs_container, job_id, range(1, 11), ext="exr")
    for start in range(1, 11, submitted["chunk_size"]):  # recorded, not yet settled done
        chunk = range(start, min(start + submitted["chunk_size"], 11))
        write_rendering(jobs_container, job_id, (start - 1) // submitted["chunk_size"], chunk)
    body = client.get(f"/api/jobs/{job_id}", headers=auth()).json()
    assert (body["state"], body["frames_done"], body["frame_urls_next_offset"]) == (
        "completed",
        10,
        None,
    )


def test_a_status_read_asks_followers_to_wait_for_the_next_record_write_until_the_job_ends(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = submit(client, scene, frames="1-2", chunk_size=2).json()["job_id"]
    queued = client.get(f"/api/jobs/{job_id}", headers=auth())
    write_rendering(jobs_container, job_id, 0, range(1, 2))
    rendering = client.get(f"/api/jobs/{job_id}", headers=auth())
    put_frames(jobs_container, job_id, range(1, 3))
    write_record(
        jobs_container,
        ChunkRecord(job_id=job_id, chunk_index=0, state=ChunkState.DONE, attempts=1),
    )
    completed = client.get(f"/api/jobs/{job_id}", headers=auth())
    assert [r.json()["state"] for r in (queued, rendering, completed)] == [
        "queued",
        "rendering",
        "completed",
    ]
    # Records change no faster than their workers rewrite them: a sooner read is wasted.
    asked = str(math.ceil(PROGRESS_EVERY_S))
    assert queued.headers["Retry-After"] == rendering.headers["Retry-After"] == asked
    assert "Retry-After" not in completed.headers


def test_a_failed_chunk_fails_the_job_with_its_error(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = submit(client, scene, chunk_size=5).json()["job_id"]
    put_frames(jobs_container, job_id, range(1, 6))
    write_record(
        jobs_container,
        ChunkRecord(job_id=job_id, chunk_index=1, state=ChunkState.FAILED, attempts=5).with_error(
            "scene has no camera"
        ),
    )
    body = client.get(f"/api/jobs/{job_id}", headers=auth()).json()
    assert (body["state"], body["frames_failed"]) == ("failed", 5)
    assert body["chunks"][1]["last_error"] == "scene has no camera"


def test_cancel_is_idempotent_and_shows_in_status(client: TestClient, scene: str) -> None:
    job_id = submit(client, scene).json()["job_id"]
    first = client.post(f"/api/jobs/{job_id}/cancel", headers=auth())
    again = client.post(f"/api/jobs/{job_id}/cancel", headers=auth())
    assert first.status_code == again.status_code == 200
    assert first.json()["state"] == "cancelled"
    assert first.json()["cancelled_at"] == again.json()["cancelled_at"]


def test_list_pages_newest_first_and_filters_by_state(client: TestClient, scene: str) -> None:
    ids = [submit(client, scene, frames=str(n)).json()["job_id"] for n in range(3)]
    client.post(f"/api/jobs/{ids[1]}/cancel", headers=auth())
    first = client.get("/api/jobs", params={"limit": 2}, headers=auth()).json()
    assert [j["job_id"] for j in first["jobs"]] == [ids[2], ids[1]]
    rest = client.get(
        "/api/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth()
    ).json()
    assert [j["job_id"] for j in rest["jobs"]] == [ids[0]]
    assert rest["next_cursor"] is None
    cancelled = client.get("/api/jobs", params={"state": "cancelled"}, headers=auth()).json()
    assert [j["job_id"] for j in cancelled["jobs"]] == [ids[1]]


def test_jobs_submitted_at_once_on_a_fresh_scene_are_all_accepted(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    """Each request verifies the new upload's hash; the ones that lose the race to mark it
    verified find it marked, and accept the job."""
    body = {"scene_sha256": scene, "frames": "1"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(lambda _: client.post("/api/jobs", json=body, headers=auth()), range(6))
        )
    assert [answer.status_code for answer in answers] == [202] * 6, [a.text for a in answers]
    for answer in answers:
        drain_messages(servicebus, answer.json()["job_id"], expected=1)
