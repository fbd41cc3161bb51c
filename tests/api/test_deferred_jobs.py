"""Deferred renders: ``not_before`` sends the chunks as scheduled messages; the job shows
"scheduled" until then; cancelling it takes its messages off the queue. Over the wire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from testbed.emulators import ServiceBusEmulator
from tests.api.conftest import auth

QUEUE = "render-chunks-5.3"


def counts(servicebus: ServiceBusEmulator) -> tuple[int, int]:
    """(active, scheduled) messages on the default pool's queue."""
    data = httpx.get(f"{servicebus.management_url}/queues/{QUEUE}").json()
    return int(data["active_message_count"]), int(data["scheduled_message_count"])


def defer(client: TestClient, scene: str, seconds: float) -> httpx.Response:
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    response: httpx.Response = client.post(
        "/api/jobs",
        json={
            "scene_sha256": scene,
            "frames": "1-3",
            "chunk_size": 1,
            "not_before": at.isoformat(),
        },
        headers=auth(),
    )
    return response


def test_a_deferred_job_does_not_start_before_its_time(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    active, scheduled = counts(servicebus)
    response = defer(client, scene, seconds=3)
    assert response.status_code == 202, response.text
    job_url = response.json()["status_url"]
    assert counts(servicebus) == (active, scheduled + 3)
    assert client.get(job_url, headers=auth()).json()["state"] == "scheduled"
    deadline = time.monotonic() + 15
    while counts(servicebus) != (active + 3, scheduled) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counts(servicebus) == (active + 3, scheduled)
    assert client.get(job_url, headers=auth()).json()["state"] == "queued"


def test_cancelling_a_deferred_job_takes_its_messages_off_the_queue(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    active, scheduled = counts(servicebus)
    response = defer(client, scene, seconds=600)
    assert counts(servicebus) == (active, scheduled + 3)
    cancelled = client.post(f"{response.json()['status_url']}/cancel", headers=auth()).json()
    assert cancelled["state"] == "cancelled"
    assert counts(servicebus) == (active, scheduled)


def test_a_not_before_already_past_renders_now(
    client: TestClient, scene: str, servicebus: ServiceBusEmulator
) -> None:
    active, scheduled = counts(servicebus)
    response = defer(client, scene, seconds=-60)
    assert response.status_code == 202, response.text
    assert counts(servicebus) == (active + 3, scheduled)
    assert client.get(response.json()["status_url"], headers=auth()).json()["state"] == "queued"


def test_a_not_before_beyond_30_days_is_past_the_farms_limit_a_403(
    client: TestClient, scene: str
) -> None:
    response = defer(client, scene, seconds=timedelta(days=31).total_seconds())
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(":farm-limit")
    (error,) = response.json()["errors"]
    assert error["field"] == "not_before"
    assert "30 days ahead" in error["detail"]


@pytest.mark.parametrize("text", ["tomorrow", "2026-12-24T22:00:00", 12])
def test_a_not_before_that_is_not_an_rfc_3339_time_with_an_offset_is_a_422(
    client: TestClient, scene: str, text: object
) -> None:
    response = client.post(
        "/api/jobs",
        json={"scene_sha256": scene, "frames": "1", "not_before": text},
        headers=auth(),
    )
    assert response.status_code == 422, response.text
    assert "not_before" in {error["field"] for error in response.json()["errors"]}
