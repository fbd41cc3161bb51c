"""The order a job's chunks go on the queue, over the wire: preview-first unless asked."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from renderfarm.jobs.chunk_messages import ChunkMessage
from testbed.emulators import ServiceBusEmulator
from tests.api.conftest import auth, drain_messages
from tests.api.test_bad_input import assert_problem


def sent_chunks(
    client: TestClient, servicebus: ServiceBusEmulator, body: dict[str, Any], count: int
) -> list[ChunkMessage]:
    """The job's chunk messages in the order the queue hands them out."""
    response = client.post("/api/jobs", json=body, headers=auth())
    assert response.status_code == 202, response.text
    assert response.json()["chunk_count"] == count
    messages = drain_messages(servicebus, response.json()["job_id"], expected=count)
    return [ChunkMessage.from_json(b"".join(m.body)) for m in messages]


def test_a_new_job_is_queued_first_last_and_middle_frames_first(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    body = {"scene_sha256": scene, "frames": "1-20", "chunk_size": 1}
    chunks = sent_chunks(client, servicebus, body, count=20)
    assert [c.frames[0] for c in chunks][:5] == [1, 20, 10, 5, 15]
    # Only the send order changes: chunk n still holds the shot's n-th slice.
    assert sorted(c.chunk_index for c in chunks) == list(range(20))
    assert all(c.frames == (c.chunk_index + 1,) for c in chunks)


def test_a_sequential_job_is_queued_in_file_order_and_chunks_keep_their_frames_in_order(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    body = {"scene_sha256": scene, "frames": "1-12", "chunk_size": 4, "order": "sequential"}
    chunks = sent_chunks(client, servicebus, body, count=3)
    assert [c.frames for c in chunks] == [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12)]


@pytest.mark.parametrize("order", ["random", "PREVIEW_FIRST", "", 1, None])
def test_an_unknown_order_is_a_422_naming_the_field(
    client: TestClient, scene: str, order: object
) -> None:
    body = {"scene_sha256": scene, "frames": "1-4", "order": order}
    assert_problem(client.post("/api/jobs", json=body, headers=auth()), 422, "order")
