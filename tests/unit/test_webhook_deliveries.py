"""Webhook deliveries in the domain: retry schedule, what a status means, stats, message shapes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook as StandardWebhook

from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.webhooks.rules import (
    MAX_ATTEMPTS,
    Delivery,
    DeliveryFormatError,
    DeliveryStats,
    Outcome,
    RetryPolicy,
    Webhook,
    new_secret,
    outcome_of,
)
from renderfarm_azure.webhooks.transport import signed_headers

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_the_default_schedule_waits_5s_25s_2min_10min_1h_then_gives_up() -> None:
    policy = RetryPolicy()
    delays = [policy.delay_before(attempt) for attempt in range(2, MAX_ATTEMPTS + 1)]
    assert delays == [5, 25, 120, 600, 3600]
    assert MAX_ATTEMPTS == 6
    assert policy.delay_before(MAX_ATTEMPTS + 1) is None
    assert policy.delay_before(1) is None  # the first try does not wait


def test_the_schedule_scales_with_its_base_and_stops_at_max_attempts() -> None:
    policy = RetryPolicy(base_delay_s=0.2, max_attempts=3)
    assert [policy.delay_before(n) for n in (2, 3, 4)] == [
        pytest.approx(0.2),
        pytest.approx(1.0),
        None,
    ]


@pytest.mark.parametrize(("base", "attempts"), [(0, 3), (-1, 3), (1, 0), (1, MAX_ATTEMPTS + 1)])
def test_a_policy_out_of_bounds_is_refused(base: float, attempts: int) -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(base_delay_s=base, max_attempts=attempts)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (299, Outcome.DELIVERED),
        (None, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (429, Outcome.RETRY),
        (408, Outcome.RETRY),
        (410, Outcome.GONE),
        (301, Outcome.REJECTED),  # redirects are not followed
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (404, Outcome.REJECTED),
    ],
)
def test_what_a_receivers_answer_means(status: int | None, outcome: Outcome) -> None:
    assert outcome_of(status) is outcome


def test_stats_count_tries_deliveries_and_failures() -> None:
    stats = DeliveryStats()
    stats = stats.after_try(Outcome.RETRY, status=500, error="HTTP 500", final=False, at=AT)
    assert (stats.attempts, stats.deliveries, stats.failures, stats.last_status) == (1, 0, 0, 500)
    stats = stats.after_try(Outcome.DELIVERED, status=200, error=None, final=False, at=AT)
    assert (stats.attempts, stats.deliveries, stats.failures) == (2, 1, 0)
    assert stats.last_delivered_at == AT and stats.last_error is None
    stats = stats.after_try(Outcome.RETRY, status=None, error="x" * 1000, final=True, at=AT)
    assert (stats.failures, stats.last_status, len(stats.last_error or "")) == (1, None, 300)
    stats = stats.after_try(Outcome.REJECTED, status=404, error="HTTP 404", final=True, at=AT)
    assert stats.failures == 2
    assert DeliveryStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats


def test_a_webhook_record_round_trips_and_says_which_events_it_wants() -> None:
    webhook = Webhook(
        id="a" * 32,
        tenant="acme",
        url="https://hooks.example.com/in",
        events=(EventType.JOB_COMPLETED, EventType.JOB_FAILED),
        created_at=AT,
    )
    assert Webhook.from_json(webhook.to_json()) == webhook
    assert webhook.wants(EventType.JOB_COMPLETED)
    assert not webhook.wants(EventType.JOB_ACCEPTED)
    assert "secret" not in webhook.to_json()


def event() -> JobEvent:
    return JobEvent(type=EventType.JOB_COMPLETED, job_id="f" * 32, tenant="acme", at=AT)


def test_a_deliverys_message_id_is_fixed_by_event_webhook_and_try() -> None:
    first = Delivery.of_event(event(), "b" * 32, {"id": "f" * 32})
    assert first.message_id == f"{'f' * 32}:job.completed:{'b' * 32}"
    second = first.next_try()
    assert second.attempt == 2 and second.message_id == first.message_id + ":2"
    assert Delivery.from_json(second.to_json()) == second


def test_the_payload_is_type_timestamp_and_data() -> None:
    delivery = Delivery.of_event(event(), "b" * 32, {"id": "f" * 32, "state": "completed"})
    assert json.loads(delivery.payload()) == {
        "type": "job.completed",
        "timestamp": "2026-05-01T12:00:00+00:00",
        "data": {"id": "f" * 32, "state": "completed"},
    }


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b'{"version": 2}', b'{"version": 1, "type": "job.exploded"}']
)
def test_a_message_that_is_not_a_delivery_is_named_so(body: bytes) -> None:
    with pytest.raises(DeliveryFormatError):
        Delivery.from_json(body)


def test_a_secret_is_whsec_and_32_random_bytes_and_the_library_verifies_what_we_sign() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert new_secret() != secret
    payload = Delivery.of_event(event(), "b" * 32, {"id": "f" * 32}).payload()
    headers = signed_headers(secret, "evt-1", payload, datetime.now(UTC))
    assert StandardWebhook(secret).verify(payload, headers)["type"] == "job.completed"
    with pytest.raises(Exception, match="signature"):
        StandardWebhook(new_secret()).verify(payload, headers)


def test_times_in_a_summary_travel_as_rfc3339_text() -> None:
    delivery = Delivery.of_event(event(), "b" * 32, {"finished_at": AT})
    assert json.loads(delivery.payload())["data"] == {"finished_at": "2026-05-01T12:00:00+00:00"}
    assert Delivery.from_json(delivery.to_json()).data == {"finished_at": AT.isoformat()}
    with pytest.raises(TypeError):
        Delivery.of_event(event(), "b" * 32, {"x": object()}).to_json()
