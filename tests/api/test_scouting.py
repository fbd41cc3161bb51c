"""A scouted job over the wire: it sends its scout chunks alone, is quoted once its last scout
chunk settles, waits in awaiting_approval, and renders the rest once approved; each bad input
gets its problem. Azurite and the Service Bus emulator, the real adapters; the workers' part
(records written done, then the settle) is played by the test."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest
from azure.storage.blob import ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.shared.settings import Settings
from testbed.emulators import ServiceBusEmulator
from tests.api.conftest import auth, drain_messages
from tests.api.scouting_helpers import (
    lifecycle_for,
    manifest_of,
    record_scout_done,
    settle_scouts,
    status,
    submit,
)
from tests.services import events_of


def assert_problem(response: httpx.Response, status_code: int, kind: str) -> dict[str, object]:
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["type"] == f"urn:renderfarm:problem:{kind}"
    return body


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"scout": [1, 11]}, "scout"),  # 11 is not one of frames 1-10
        ({"scout": [1, 2, 3, 4, 5, 6, 7, 8, 9]}, "scout"),  # more than 8
        ({"scout": []}, "scout"),
        ({"scout": "yes"}, "scout"),
        ({"scout": False, "approve_below_usd": 1.0}, "approve_below_usd"),
        ({"approve_below_usd": 0}, "approve_below_usd"),
        ({"approve_below_usd": -2}, "approve_below_usd"),
        ({"approve_below_usd": "1.5"}, "approve_below_usd"),
    ],
)
def test_bad_scouting_input_gets_a_422_naming_the_field(
    client: TestClient, scene: str, fields: dict[str, object], field: str
) -> None:
    body = {"scene_sha256": scene, "frames": "1-10", **fields}
    problem = assert_problem(client.post("/api/jobs", json=body, headers=auth()), 422, "validation")
    assert [error["field"] for error in problem["errors"]] == [field]  # type: ignore[attr-defined]


def test_a_scouted_job_sends_only_its_three_scout_chunks_and_says_it_is_scouting(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    job = submit(client, scene, scout=True)
    assert (job["state"], job["chunk_count"]) == ("scouting", 5)
    messages = drain_messages(servicebus, job["job_id"], expected=4)
    bodies = sorted(
        (ChunkMessage.from_json(b"".join(m.body)) for m in messages), key=lambda m: m.chunk_index
    )
    # Numbered after the five planned chunks, one frame each: the first, middle and last.
    assert [(b.chunk_index, b.frames) for b in bodies] == [(5, (1,)), (6, (5,)), (7, (10,))]
    answer = status(client, job["job_id"])
    assert (answer["state"], answer["scout_frames"], answer["quote"]) == (
        "scouting",
        [1, 5, 10],
        None,
    )
    assert [chunk["index"] for chunk in answer["scout_chunks"]] == [5, 6, 7]


def test_the_last_scout_chunk_quotes_the_job_which_waits_for_approval(
    client: TestClient,
    scene: str,
    settings: Settings,
    jobs_container: ContainerClient,
    servicebus: ServiceBusEmulator,
) -> None:
    job_id = submit(client, scene, scout=[1, 5, 10])["job_id"]
    drain_messages(servicebus, job_id, expected=3)
    with lifecycle_for(settings) as lifecycle:
        manifest = manifest_of(lifecycle, job_id)
        record_scout_done(jobs_container, manifest, 5)
        lifecycle.chunk_settled(manifest, 5, ChunkState.DONE)
        assert status(client, job_id)["state"] == "scouting"  # two scout frames to go
        settle_scouts(jobs_container, lifecycle, job_id)
    answer = status(client, job_id)
    quote = answer["quote"]
    assert answer["state"] == "awaiting_approval"
    assert answer["frames_done"] == 3  # the scout frames count as rendered
    assert quote["decision"] == "pending"
    assert [f["frame"] for f in quote["scout_frames"]] == [1, 5, 10]
    # 3 scout chunks spent 6 s; 5 chunks of 0.4 s overhead and 7 frames of 1 s to go; each of
    # the 5 replicas used opens the scene (0.6 s).
    assert quote["estimated_worker_seconds"] == pytest.approx(6.0 + 5 * 0.4 + 7 * 1.0 + 5 * 0.6)
    assert quote["estimated_usd"] > 0
    assert datetime.fromisoformat(quote["estimated_finish_at"]) > datetime.now(UTC)
    assert quote["max_replicas"] == settings.worker_max_replicas
    assert quote["actual_usd"] is None
    assert [e.type.value for e in events_of(servicebus, job_id)] == ["job.accepted", "job.quoted"]
    assert drain_messages(servicebus, job_id, expected=1) == []  # nothing more is sent


def test_two_settlers_of_the_last_two_scout_chunks_write_one_quote(
    client: TestClient,
    scene: str,
    settings: Settings,
    jobs_container: ContainerClient,
    servicebus: ServiceBusEmulator,
) -> None:
    job_id = submit(client, scene, scout=[3, 8])["job_id"]
    with lifecycle_for(settings) as first, lifecycle_for(settings) as second:
        manifest = manifest_of(first, job_id)
        start = threading.Barrier(2)

        def settle(lifecycle: JobLifecycle, index: int) -> None:
            record_scout_done(jobs_container, manifest, index)
            start.wait()
            lifecycle.chunk_settled(manifest, index, ChunkState.DONE)

        threads = [
            threading.Thread(target=settle, args=(lifecycle, index))
            for lifecycle, index in ((first, 5), (second, 6))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        quoted = manifest_of(first, job_id).quote
    assert quoted is not None
    shown = datetime.fromisoformat(status(client, job_id)["quote"]["quoted_at"])
    assert shown == quoted.quote.quoted_at  # the one quote written
    types = [e.type.value for e in events_of(servicebus, job_id)]
    assert types == ["job.accepted", "job.quoted"]


def test_approval_sends_the_planned_chunks_once_and_approving_again_changes_nothing(
    client: TestClient,
    scene: str,
    settings: Settings,
    jobs_container: ContainerClient,
    servicebus: ServiceBusEmulator,
) -> None:
    job_id = submit(client, scene, scout=True)["job_id"]
    drain_messages(servicebus, job_id, expected=3)
    with lifecycle_for(settings) as lifecycle:
        settle_scouts(jobs_container, lifecycle, job_id)
    approved = client.post(f"/api/jobs/{job_id}/approve", headers=auth())
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "queued"
    assert approved.json()["quote"]["decision"] == "approved"
    messages = drain_messages(servicebus, job_id, expected=6)
    assert sorted(str(m.message_id) for m in messages) == [f"{job_id}:{i}" for i in range(5)]
    again = client.post(f"/api/jobs/{job_id}/approve", headers=auth())
    assert again.status_code == 200, again.text
    assert again.json()["quote"]["approved_at"] == approved.json()["quote"]["approved_at"]
    assert drain_messages(servicebus, job_id, expected=1) == []


def test_cancel_rejects_an_awaiting_job_which_can_then_not_be_approved(
    client: TestClient, scene: str, settings: Settings, jobs_container: ContainerClient
) -> None:
    job_id = submit(client, scene, scout=True)["job_id"]
    with lifecycle_for(settings) as lifecycle:
        settle_scouts(jobs_container, lifecycle, job_id)
    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=auth())
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["quote"]["decision"]) == (
        "cancelled",
        "rejected",
    )
    assert cancelled.json()["quote"]["actual_usd"] > 0  # the scout frames were rendered
    problem = assert_problem(
        client.post(f"/api/jobs/{job_id}/approve", headers=auth()), 409, "not-awaiting-approval"
    )
    assert problem["state"] == "cancelled"


def test_approving_a_job_not_awaiting_approval_is_a_409_naming_its_state(
    client: TestClient, scene: str
) -> None:
    scouting = submit(client, scene, scout=True)["job_id"]
    plain = submit(client, scene)["job_id"]
    for job_id, state in ((scouting, "scouting"), (plain, "queued")):
        answer = client.post(f"/api/jobs/{job_id}/approve", headers=auth())
        assert assert_problem(answer, 409, "not-awaiting-approval")["state"] == state


def test_approving_another_tenants_job_or_no_job_is_a_404(client: TestClient, scene: str) -> None:
    job_id = submit(client, scene, scout=True)["job_id"]
    for path, tenant in ((job_id, "globex"), ("0" * 32, "acme")):
        answer = client.post(f"/api/jobs/{path}/approve", headers=auth(tenant))
        assert_problem(answer, 404, "job-not-found")
    assert_problem(client.post("/api/jobs/not-a-job/approve", headers=auth()), 422, "validation")
