"""Retrying a job's failed chunks over the wire: the API on Azurite and the Service Bus
emulator, with the real adapters. A "worker" here is what a worker writes (frames, its chunk's
record, the settle through the job's lifecycle), so each round's end, events and messages are
the farm's own; the whole loop with Blender workers is tests/local/test_retry_end_to_end.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks import states
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.jobs.chunk_settlement import settle_chunk
from renderfarm.jobs.dead_letters import DeadLetter, JobSettling, record_dead_letter
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_records import read_chunk_record, update_chunk_record
from renderfarm_azure.dead_letters import ContainerChunkRecords
from renderfarm_azure.job_ledger import job_lifecycle
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import auth, drain_messages, settings_for, upload_scene
from tests.services import events_of


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Rig:
    client: TestClient
    jobs: ContainerClient
    lifecycle: JobLifecycle
    servicebus: ServiceBusEmulator
    scene: str

    def submit(self, frames: str, *, tenant: str = "acme") -> str:
        body = {"scene_sha256": self.scene, "frames": frames, "chunk_size": 1}
        answer = self.client.post("/api/jobs", json=body, headers=auth(tenant))
        assert answer.status_code == 202, answer.text
        job_id = str(answer.json()["job_id"])
        drain_messages(self.servicebus, job_id, expected=answer.json()["chunk_count"])
        return job_id

    def manifest(self, job_id: str) -> JobManifest:
        stored = self.lifecycle.store.manifests.read_manifest(job_id)
        assert stored is not None
        return stored.manifest

    def record(self, job_id: str, index: int) -> ChunkRecord:
        record, _ = read_chunk_record(self.jobs, job_id, index)
        assert record is not None
        return record

    def _write(
        self, manifest: JobManifest, index: int, change: Callable[[ChunkRecord], ChunkRecord]
    ) -> None:
        """A worker's record writes: it opens the chunk in its round, then starts it."""

        def mutate(current: ChunkRecord | None) -> ChunkRecord:
            base = current or states.new_record(manifest.job_id, index)
            base = states.requeue(base, retry_round=manifest.round, frames=frozenset(), at=now())
            started = states.start(base, worker_id="w", blender_version="5.3.0", at=now())
            return change(started)

        update_chunk_record(self.jobs, manifest.job_id, index, mutate)

    def render(self, job_id: str, index: int) -> str | None:
        """What a worker does with a chunk that renders: its frames, its record, its settle."""
        manifest = self.manifest(job_id)
        for frame in manifest.chunks[index].frames:
            name = layout.frame_blob(job_id, frame, manifest.output_extension)
            with contextlib.suppress(ResourceExistsError):  # kept from an earlier round
                self.jobs.upload_blob(name, b"frame", overwrite=False)
        self._write(manifest, index, lambda record: states.finish(record, now()))
        return settle_chunk(self.lifecycle, manifest, index, ChunkState.DONE)

    def fail(self, job_id: str, index: int, error: str = "FrameError: no camera") -> str | None:
        """What a worker does with a chunk that fails for good."""
        manifest = self.manifest(job_id)
        self._write(manifest, index, lambda r: states.fail(r, error=error, log="", at=now()))
        return settle_chunk(self.lifecycle, manifest, index, ChunkState.FAILED, error=error)

    def retry(
        self, job_id: str, body: dict[str, object] | None = None, tenant: str = "acme"
    ) -> httpx.Response:
        answer: httpx.Response = self.client.post(
            f"/api/jobs/{job_id}/retry", json=body, headers=auth(tenant)
        )
        return answer

    def state(self, job_id: str) -> str:
        return str(self.client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"])

    def event_types(self, job_id: str) -> list[str]:
        return [event.type.value for event in events_of(self.servicebus, job_id)]


def make_rig(
    settings: Settings,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> Iterator[Rig]:
    assert settings.storage_connection_string and settings.servicebus_connection_string
    client = make_client(settings)
    blobs = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    bus = ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
    yield Rig(
        client=client,
        jobs=blobs.get_container_client(settings.jobs_container),
        lifecycle=job_lifecycle(settings, blob_service=blobs, bus=bus),
        servicebus=servicebus,
        scene=upload_scene(client),  # the API makes its containers on this first call
    )
    bus.close()
    blobs.close()


@pytest.fixture
def rig(
    settings: Settings,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> Iterator[Rig]:
    yield from make_rig(settings, servicebus, make_client)


def test_a_failed_job_renders_again_only_its_failed_chunk_and_then_completes_once(
    rig: Rig,
) -> None:
    job_id = rig.submit("1-3")
    assert rig.render(job_id, 0) is None
    assert rig.fail(job_id, 1) is None
    assert rig.render(job_id, 2) == "failed"
    assert rig.state(job_id) == "failed"

    answer = rig.retry(job_id)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["outcome"], body["retried"], body["round"]) == ("retried", True, 1)
    assert (body["chunks"], body["frames"], body["state"]) == ([1], 1, "queued")
    # Only the failed chunk is queued again, under an id of its own (never a duplicate).
    [message] = drain_messages(rig.servicebus, job_id, expected=1)
    assert message.message_id == f"{job_id}:1:r1"
    assert json.loads(b"".join(message.body))["round"] == 1
    assert (rig.record(job_id, 1).state, rig.record(job_id, 1).round) == ("pending", 1)
    assert rig.record(job_id, 0).round == 0  # the done chunks are left alone
    manifest = rig.manifest(job_id)
    assert (manifest.outcome, manifest.finished_at, manifest.round) == (None, None, 1)

    # A second call while the round runs changes nothing, and says so.
    again = rig.retry(job_id, {"include_cancelled": True})
    assert again.status_code == 200, again.text
    assert (again.json()["outcome"], again.json()["retried"]) == ("already_retrying", False)
    assert drain_messages(rig.servicebus, job_id, expected=1) == []
    assert rig.manifest(job_id) == manifest

    rig.render(job_id, 1)
    assert rig.state(job_id) == "completed"
    assert rig.event_types(job_id) == [
        "job.accepted",
        "chunk.failed",
        "job.failed",
        "job.retried",
        "job.completed",
    ]
    # The chunk settled again (a redelivery) records nothing new and sends no second end.
    assert settle_chunk(rig.lifecycle, rig.manifest(job_id), 1, ChunkState.DONE) == "completed"
    assert rig.event_types(job_id) == []

    completed = rig.retry(job_id)
    assert completed.status_code == 200
    assert (completed.json()["outcome"], completed.json()["state"]) == ("completed", "completed")


def test_a_late_writer_of_the_round_before_a_retry_changes_nothing(rig: Rig) -> None:
    """The dead-letter handler may handle the failed chunk's letter after the retry, and the
    first round's last settler may come back (a redelivery): neither touches the new round."""
    job_id = rig.submit("1-2")
    ended = rig.manifest(job_id)
    rig.render(job_id, 0)
    rig.fail(job_id, 1)
    assert rig.retry(job_id).status_code == 202
    letter = DeadLetter(
        body=ended.messages()[1].to_json().encode(),
        message_id=f"{job_id}:1",
        reason="PoisonChunk",
        description="FrameError: no camera",
        delivery_count=1,
    )
    record = record_dead_letter(
        letter,
        records=ContainerChunkRecords(rig.jobs),
        settling=JobSettling(manifests=rig.lifecycle.store.manifests, ledger=rig.lifecycle),
        at=now(),
    )
    assert record is not None and (record.state, record.round) == ("pending", 1)
    # The first round's settler of its last chunk comes back with the first round's manifest.
    assert settle_chunk(rig.lifecycle, ended, 1, ChunkState.FAILED, error="again") == "failed"
    assert rig.manifest(job_id).outcome is None
    assert rig.state(job_id) == "queued"
    assert rig.event_types(job_id) == ["job.accepted", "chunk.failed", "job.failed", "job.retried"]


def test_a_round_that_fails_again_says_so_again_and_can_be_retried_once_more(rig: Rig) -> None:
    job_id = rig.submit("1-2")
    rig.fail(job_id, 0)
    rig.render(job_id, 1)
    assert rig.retry(job_id).status_code == 202
    assert rig.fail(job_id, 0) == "failed"
    second = rig.retry(job_id)
    assert second.status_code == 202, second.text
    assert (second.json()["round"], second.json()["chunks"]) == (2, [0])
    assert rig.render(job_id, 0) == "completed"
    events = events_of(rig.servicebus, job_id)
    assert [(event.type.value, event.round) for event in events] == [
        ("job.accepted", 0),
        ("chunk.failed", 0),
        ("job.failed", 0),
        ("job.retried", 1),
        ("chunk.failed", 1),
        ("job.failed", 1),
        ("job.retried", 2),
        ("job.completed", 2),
    ]
    assert events[3].detail == {
        "round": 1,
        "chunks": 1,
        "frames": 1,
        "include_cancelled": False,
        "previous_outcome": "failed",
    }


def test_a_cancelled_job_renders_its_cancelled_chunks_only_when_asked(rig: Rig) -> None:
    job_id = rig.submit("1-3")
    rig.render(job_id, 0)
    cancelled = rig.client.post(f"/api/jobs/{job_id}/cancel", headers=auth())
    assert cancelled.json()["state"] == "cancelled"

    nothing = rig.retry(job_id)
    assert nothing.status_code == 200, nothing.text
    assert (nothing.json()["outcome"], nothing.json()["state"]) == ("nothing_failed", "cancelled")

    answer = rig.retry(job_id, {"include_cancelled": True})
    assert answer.status_code == 202, answer.text
    assert answer.json()["chunks"] == [1, 2]
    assert {m.message_id for m in drain_messages(rig.servicebus, job_id, expected=2)} == {
        f"{job_id}:1:r1",
        f"{job_id}:2:r1",
    }
    manifest = rig.manifest(job_id)
    assert manifest.cancelled_at is None and manifest.accepts_work()
    rig.render(job_id, 1)
    assert rig.render(job_id, 2) == "completed"
    assert rig.event_types(job_id)[-2:] == ["job.retried", "job.completed"]


def test_a_job_that_has_not_ended_gets_a_409_naming_its_state(rig: Rig) -> None:
    job_id = rig.submit("1-2")
    refused = rig.client.post(f"/api/jobs/{job_id}/retry", headers=auth())  # no body at all
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:renderfarm:problem:job-not-ended"
    assert problem["state"] == "queued"
    assert rig.manifest(job_id).round == 0


def test_another_tenants_job_and_an_unknown_one_are_not_found(rig: Rig) -> None:
    job_id = rig.submit("1")
    rig.fail(job_id, 0)
    for tenant, job in (("globex", job_id), ("acme", "f" * 32)):
        answer = rig.retry(job, tenant=tenant)
        assert answer.status_code == 404, answer.text
        assert answer.json()["type"] == "urn:renderfarm:problem:job-not-found"
    assert rig.manifest(job_id).round == 0
    malformed = rig.retry("not-a-job-id")
    assert malformed.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"include_cancelled": "yes"}, "include_cancelled"),
        ({"include_cancelled": 1}, "include_cancelled"),
        ({"include_failed": True}, "include_failed"),
    ],
)
def test_a_bad_body_gets_a_422_naming_the_field(
    rig: Rig, body: dict[str, object], field: str
) -> None:
    job_id = rig.submit("1")
    rig.fail(job_id, 0)
    answer = rig.retry(job_id, body)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == [field]
    assert rig.manifest(job_id).round == 0


def test_a_body_that_is_not_json_gets_a_400(rig: Rig) -> None:
    job_id = rig.submit("1")
    answer = rig.client.post(
        f"/api/jobs/{job_id}/retry",
        content=b"{not json",
        headers={**auth(), "content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "urn:renderfarm:problem:malformed-json"


def test_a_retry_past_the_tenants_queued_frames_cap_gets_a_429(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    """Each API process keeps its own count of waiting frames for a few seconds: each step
    runs in a fresh one here, so that each counts what Blob Storage holds."""
    capped = settings_for(azurite, servicebus, max_queued_frames_per_tenant=3)
    for rig in make_rig(capped, servicebus, make_client):
        failed = rig.submit("1-2")
        rig.fail(failed, 0)
        rig.fail(failed, 1)
        replace(rig, client=make_client(capped)).submit("1-3")  # three frames waiting: the cap
        answer = replace(rig, client=make_client(capped)).retry(failed)
        assert answer.status_code == 429, answer.text
        assert answer.json()["type"] == "urn:renderfarm:problem:queued-frames-cap"
        assert rig.manifest(failed).round == 0
        assert rig.state(failed) == "failed"
