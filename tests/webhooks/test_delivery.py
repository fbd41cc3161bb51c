"""Deliveries over the wire: fan_out onto the emulator's deliveries queue, the consumer in a
thread, real receivers on 127.0.0.1 verifying signatures with the standardwebhooks library."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

import azure.functions as func
import pytest
from standardwebhooks import Webhook as StandardWebhook

from functions.webhook_trigger import DeliveryGaveUp, handle_delivery
from renderfarm.jobs.events import EventType
from renderfarm.webhooks.fan_out import fan_out
from renderfarm.webhooks.rules import DEAD_LETTER_REASON, Delivery, RetryPolicy
from tests.api.conftest import auth
from tests.webhooks.conftest import Hooks, Receiver, dead_letters, job_event, summary_of

FAST = RetryPolicy(base_delay_s=0.2)  # 0.2 s, 1 s, 4.8 s, ...
QUIET_S = 1.5  # how long "nothing more came" is watched for


def fan(hooks: Hooks, event_type: EventType = EventType.JOB_COMPLETED, tenant: str = "acme"):  # type: ignore[no-untyped-def]
    event = job_event(event_type, tenant)
    queued = fan_out(
        event, summary_of(event), store=hooks.services.store, deliveries=hooks.services.deliveries
    )
    return event, queued


def stats(hooks: Hooks, webhook_id: str, tenant: str = "acme") -> dict[str, object]:
    return next(w["deliveries"] for w in hooks.listed(tenant) if w["id"] == webhook_id)


def wait_for_stats(
    hooks: Hooks, webhook_id: str, done: Callable[[dict[str, object]], bool], timeout: float = 20.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        current = stats(hooks, webhook_id)
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"stats never got there: {current}")
        time.sleep(0.1)


def test_each_delivery_is_signed_and_an_event_fanned_out_twice_arrives_once(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver()
    created = hooks.register(receiver.url, events=["job.completed", "job.failed"])
    hooks.register(make_receiver().url, events=["job.failed"])  # not subscribed to completed
    event, queued = fan(hooks)
    assert queued == 1
    assert fan(hooks)[1] == 1  # another event: a second delivery
    hooks.start_consumer(policy=FAST)
    assert (
        fan_out(  # the first event again: dropped by the queue's duplicate detection
            event,
            summary_of(event),
            store=hooks.services.store,
            deliveries=hooks.services.deliveries,
        )
        == 1
    )
    receiver.wait_for(2)
    time.sleep(QUIET_S)
    assert len(receiver.requests) == 2
    first = next(r for r in receiver.requests if r.headers["webhook-id"] == event.id)
    payload = StandardWebhook(created["secret"]).verify(first.body, first.headers)
    assert payload == {
        "type": "job.completed",
        "timestamp": event.at.isoformat(),
        "data": summary_of(event),
    }
    assert first.headers["content-type"] == "application/json"
    wait_for_stats(hooks, created["id"], lambda s: s["deliveries"] == 2)


def test_a_receiver_answering_500_twice_is_delivered_on_the_third_try(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver((500, 0.0), (500, 0.0), (200, 0.0))
    created = hooks.register(receiver.url)
    event, _ = fan(hooks)
    hooks.start_consumer(policy=FAST)
    requests = receiver.wait_for(3)
    assert {r.headers["webhook-id"] for r in requests} == {event.id}  # one message, three tries
    assert requests[1].at - requests[0].at >= 0.15  # the backoff, scheduled
    assert requests[2].at - requests[1].at >= 0.9
    for request in requests:
        StandardWebhook(created["secret"]).verify(request.body, request.headers)
    done = wait_for_stats(hooks, created["id"], lambda s: s["deliveries"] == 1)
    assert (done["attempts"], done["failures"], done["last_status"]) == (3, 0, 200)
    time.sleep(QUIET_S)
    assert len(receiver.requests) == 3


def test_the_last_failed_try_is_dead_lettered_and_counted(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver((503, 0.0))
    created = hooks.register(receiver.url)
    event, _ = fan(hooks)
    hooks.start_consumer(policy=RetryPolicy(base_delay_s=0.1, max_attempts=3))
    receiver.wait_for(3)
    [dead] = dead_letters(hooks.bus, event.id)
    assert dead.dead_letter_reason == DEAD_LETTER_REASON
    assert dead.dead_letter_error_description == "HTTP 503"
    assert Delivery.from_json(b"".join(dead.body)).attempt == 3
    done = wait_for_stats(hooks, created["id"], lambda s: s["failures"] == 1)
    assert (done["attempts"], done["deliveries"], done["last_status"]) == (3, 0, 503)
    time.sleep(QUIET_S)
    assert len(receiver.requests) == 3


def test_a_410_removes_the_webhook(hooks: Hooks, make_receiver: Callable[..., Receiver]) -> None:
    receiver = make_receiver((410, 0.0))
    hooks.register(receiver.url)
    fan(hooks)
    hooks.start_consumer(policy=FAST)
    receiver.wait_for(1)
    deadline = time.monotonic() + 10
    while hooks.listed() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hooks.listed() == []
    assert list(hooks.services.store.container.list_blob_names()) == []  # the secret too
    assert fan(hooks)[1] == 0


def test_a_client_error_is_counted_and_not_retried(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver((400, 0.0))
    created = hooks.register(receiver.url)
    fan(hooks)
    hooks.start_consumer(policy=FAST)
    done = wait_for_stats(hooks, created["id"], lambda s: s["failures"] == 1)
    assert (done["attempts"], done["last_status"], done["last_error"]) == (1, 400, "HTTP 400")
    time.sleep(QUIET_S)
    assert len(receiver.requests) == 1


def test_a_receiver_past_the_timeout_is_retried_and_stalls_no_other(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    slow = make_receiver((200, 3.0), (200, 0.0))  # sleeps past the 1 s timeout once
    fast = make_receiver((200, 0.0))
    slow_hook = hooks.register(slow.url)
    fast_hook = hooks.register(fast.url)
    for _ in range(3):
        fan(hooks)
    hooks.start_consumer(policy=FAST, timeout_s=1.0)
    first_slow = slow.wait_for(1)[0]
    fast.wait_for(3)
    assert fast.requests[-1].at - first_slow.at < 0.9  # all three before the slow one timed out
    done = wait_for_stats(hooks, slow_hook["id"], lambda s: s["deliveries"] == 3)
    assert int(str(done["attempts"])) >= 4  # at least the one that timed out was tried again
    assert stats(hooks, fast_hook["id"])["attempts"] == 3


def counting(answers: dict[str, Sequence[str]], calls: list[str]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        del port
        calls.append(host)
        return answers[host]

    return resolve


def test_delivery_refuses_a_host_that_now_resolves_to_a_forbidden_address(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver()
    port = receiver.url.split(":")[2].split("/")[0]
    created = hooks.register(f"http://localhost:{port}/hook")  # loopback: fine in development
    fan(hooks)
    calls: list[str] = []
    # The DNS answer changed since registration (rebinding): one forbidden address is enough.
    hooks.start_consumer(
        policy=FAST, resolve=counting({"localhost": ["127.0.0.1", "169.254.169.254"]}, calls)
    )
    done = wait_for_stats(hooks, created["id"], lambda s: s["failures"] == 1)
    assert done["last_status"] is None and "169.254.169.254" in str(done["last_error"])
    time.sleep(QUIET_S)
    assert receiver.requests == [] and calls == ["localhost"]  # not retried


def test_delivery_resolves_once_and_connects_to_the_address_it_checked(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver()
    port = receiver.url.split(":")[2].split("/")[0]
    created = hooks.register(f"http://localhost:{port}/hook")
    fan(hooks)
    calls: list[str] = []
    hooks.start_consumer(policy=FAST, resolve=counting({"localhost": ["127.0.0.1"]}, calls))
    [request] = receiver.wait_for(1)
    assert calls == ["localhost"]
    assert request.headers["host"] == f"localhost:{port}"  # the name, though the IP was dialled
    StandardWebhook(created["secret"]).verify(request.body, request.headers)


def test_deliveries_queued_for_a_deleted_webhook_are_dropped(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver()
    created = hooks.register(receiver.url)
    fan(hooks)
    assert hooks.api.delete(f"/api/webhooks/{created['id']}", headers=auth()).status_code == 204
    hooks.start_consumer(policy=FAST)
    time.sleep(QUIET_S)
    assert receiver.requests == []
    assert hooks.bus.counts("webhook-deliveries")["active_message_count"] == 0


class TriggerMessage(func.ServiceBusMessage):
    """What the Functions host hands the trigger (the base class leaves these unset)."""

    def __init__(self, body: bytes, message_id: str, delivery_count: int):
        super().__init__(body=body)
        self._id, self._count = message_id, delivery_count

    @property
    def message_id(self) -> str:
        return self._id

    @property
    def delivery_count(self) -> int:
        return self._count


def test_the_function_delivers_and_gives_a_failed_last_try_to_dead_lettering(
    hooks: Hooks, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver((200, 0.0), (500, 0.0))
    created = hooks.register(receiver.url)
    event = job_event()
    first = Delivery.of_event(event, created["id"], summary_of(event))
    deliverer = hooks.services.deliverer(policy=RetryPolicy(base_delay_s=0.1, max_attempts=2))
    handle_delivery(TriggerMessage(first.to_json().encode(), first.message_id, 1), deliverer)
    assert len(receiver.requests) == 1
    last = first.next_try()
    with pytest.raises(DeliveryGaveUp, match="HTTP 500"):  # the host abandons it
        handle_delivery(TriggerMessage(last.to_json().encode(), last.message_id, 1), deliverer)
    with pytest.raises(DeliveryGaveUp):  # redelivered: no second POST
        handle_delivery(TriggerMessage(last.to_json().encode(), last.message_id, 2), deliverer)
    assert len(receiver.requests) == 2
    assert stats(hooks, created["id"])["failures"] == 1
    body = json.loads(receiver.requests[0].body)
    assert body["type"] == "job.completed"
