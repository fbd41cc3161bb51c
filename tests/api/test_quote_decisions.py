"""A quote decided without a person: under approve_below_usd the job approves itself (the events
consumer sends its rest on job.quoted), and one no one approves is cancelled by the expiry timer
once its quote expires. Over the wire; the timer is driven directly, with a clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import ContainerClient
from fastapi.testclient import TestClient

from functions.events import EventConsumer
from functions.quote_expiry_trigger import quote_expiry
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.shared.settings import Settings
from renderfarm.webhooks.rules import MAX_WEBHOOKS_PER_TENANT
from renderfarm_azure.services import Services
from renderfarm_azure.webhooks.services import webhook_services
from testbed.emulators import ServiceBusEmulator
from tests.api.conftest import auth, drain_messages
from tests.api.scouting_helpers import lifecycle_for, settle_scouts, status, submit
from tests.services import events_of


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = Services.from_settings(settings)
    services.ensure_containers()
    yield services
    services.close()


def jobs_of(services: Services) -> ContainerClient:
    return services.blob_service.get_container_client(services.settings.jobs_container)


def quoted_event(job_id: str) -> JobEvent:
    return JobEvent(type=EventType.JOB_QUOTED, job_id=job_id, tenant="acme", at=datetime.now(UTC))


def test_a_quote_under_approve_below_usd_approves_itself_and_its_rest_is_sent_once(
    client: TestClient, scene: str, services: Services, servicebus: ServiceBusEmulator
) -> None:
    settings, jobs_container = services.settings, jobs_of(services)
    job_id = submit(client, scene, approve_below_usd=1000.0)["job_id"]
    drain_messages(servicebus, job_id, expected=3)
    with lifecycle_for(settings) as lifecycle:
        settle_scouts(jobs_container, lifecycle, job_id)
    answer = status(client, job_id)
    assert answer["quote"]["decision"] == "auto-approved"
    assert answer["quote"]["approve_below_usd"] == 1000.0
    assert answer["state"] == "queued"
    assert [e.type for e in events_of(servicebus, job_id)] == [
        EventType.JOB_ACCEPTED,
        EventType.JOB_QUOTED,
    ]
    consumer = EventConsumer(
        services=services,
        webhooks=webhook_services(
            settings, blob_service=services.blob_service, servicebus=services.servicebus
        ),
    )
    consumer.handle(quoted_event(job_id).to_json().encode())
    consumer.handle(quoted_event(job_id).to_json().encode())  # a redelivered event
    sent = drain_messages(servicebus, job_id, expected=6)
    assert sorted(str(m.message_id) for m in sent) == [f"{job_id}:{i}" for i in range(5)]
    assert client.post(f"/api/jobs/{job_id}/approve", headers=auth()).status_code == 200


def test_a_quote_over_approve_below_usd_waits_for_a_person(
    client: TestClient, scene: str, settings: Settings, jobs_container: ContainerClient
) -> None:
    job_id = submit(client, scene, scout=[2, 9], approve_below_usd=1e-9)["job_id"]
    with lifecycle_for(settings) as lifecycle:
        settle_scouts(jobs_container, lifecycle, job_id)
    answer = status(client, job_id)
    assert (answer["state"], answer["quote"]["decision"]) == ("awaiting_approval", "pending")


def test_the_timer_cancels_a_quote_no_one_approved_in_time_and_says_why(
    client: TestClient, scene: str, services: Services, servicebus: ServiceBusEmulator
) -> None:
    settings, jobs_container = services.settings, jobs_of(services)
    waiting = submit(client, scene, scout=True)["job_id"]
    approved = submit(client, scene, scout=True)["job_id"]
    with lifecycle_for(settings) as lifecycle:
        for job_id in (waiting, approved):
            settle_scouts(jobs_container, lifecycle, job_id)
    assert client.post(f"/api/jobs/{approved}/approve", headers=auth()).status_code == 200
    expires = datetime.fromisoformat(status(client, waiting)["quote"]["expires_at"])
    hours = expires - datetime.fromisoformat(status(client, waiting)["quote"]["quoted_at"])
    assert hours == timedelta(hours=settings.quote_expiry_hours)

    assert (
        waiting not in quote_expiry(services, lambda: expires - timedelta(minutes=1)).expire_due()
    )
    assert status(client, waiting)["state"] == "awaiting_approval"
    cancelled = quote_expiry(services, lambda: expires + timedelta(minutes=1)).expire_due()
    assert waiting in cancelled and approved not in cancelled
    answer = status(client, waiting)
    assert (answer["state"], answer["quote"]["decision"]) == ("cancelled", "expired")
    assert answer["cancelled_at"] is not None
    assert status(client, approved)["state"] == "queued"
    types = [e.type for e in events_of(servicebus, waiting)]
    assert types[-1] is EventType.JOB_CANCELLED
    late = client.post(f"/api/jobs/{waiting}/approve", headers=auth())
    assert late.status_code == 409 and late.json()["state"] == "cancelled"
    again = quote_expiry(services, lambda: expires + timedelta(hours=1)).expire_due()
    assert waiting not in again  # its entry is gone, and it is over anyway


def test_a_webhook_can_subscribe_to_job_quoted(client: TestClient) -> None:
    existing = client.get("/api/webhooks", headers=auth()).json()["webhooks"]
    if len(existing) >= MAX_WEBHOOKS_PER_TENANT:  # Azurite is the session's: make room
        client.delete(f"/api/webhooks/{existing[0]['id']}", headers=auth())
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["job.quoted"]}
    made = client.post("/api/webhooks", json=hook, headers=auth())
    assert made.status_code == 201, made.text
    assert made.json()["events"] == ["job.quoted"]
    assert client.delete(f"/api/webhooks/{made.json()['id']}", headers=auth()).status_code == 204
