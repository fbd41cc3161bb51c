"""The emulator's queue behaviour, driven by the official azure-servicebus SDK over the wire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageState,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import (
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
)

from testbed.emulators import ServiceBusEmulator

WAIT = 5  # seconds a receive waits for messages that should be there (generous: CI is loaded)


def receive_all(
    client: ServiceBusClient, queue: str, count: int, **kwargs: Any
) -> list[ServiceBusReceivedMessage]:
    """Receive until ``count`` messages arrived or a receive comes back empty."""
    received: list[ServiceBusReceivedMessage] = []
    with client.get_queue_receiver(queue, **kwargs) as receiver:
        while len(received) < count:
            batch = receiver.receive_messages(
                max_message_count=count - len(received), max_wait_time=WAIT
            )
            if not batch:
                break
            for message in batch:
                if receiver._receive_mode is ServiceBusReceiveMode.PEEK_LOCK:
                    receiver.complete_message(message)
                received.append(message)
    return received


def test_every_message_property_round_trips(client: ServiceBusClient) -> None:
    sent = ServiceBusMessage(
        b'{"job": "j1", "chunk": 3}',
        message_id="j1:3",
        correlation_id="corr-7",
        subject="render-chunk",
        content_type="application/json",
        application_properties={
            "traceparent": "00-abc-def-01",
            "attempt": 2,
            "ratio": 0.5,
            "ok": True,
        },
        time_to_live=timedelta(hours=1),
    )
    with client.get_queue_sender("properties") as sender:
        sender.send_messages(sent)
    with client.get_queue_receiver("properties", max_wait_time=WAIT) as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        assert b"".join(message.body) == b'{"job": "j1", "chunk": 3}'
        assert message.message_id == "j1:3"
        assert message.correlation_id == "corr-7"
        assert message.subject == "render-chunk"
        assert message.content_type == "application/json"
        assert message.application_properties == {
            b"traceparent": b"00-abc-def-01",
            b"attempt": 2,
            b"ratio": 0.5,
            b"ok": True,
        }
        assert message.time_to_live == timedelta(hours=1)
        assert message.delivery_count == 0
        assert message.sequence_number is not None and message.sequence_number > 0
        assert message.enqueued_time_utc is not None
        assert abs(message.enqueued_time_utc - datetime.now(UTC)) < timedelta(seconds=30)
        assert message.locked_until_utc is not None
        assert message.locked_until_utc > datetime.now(UTC)
        assert message.lock_token is not None
        receiver.complete_message(message)


def test_batch_send_delivers_each_message_in_order(client: ServiceBusClient) -> None:
    with client.get_queue_sender("batch") as sender:
        batch = sender.create_message_batch()
        for index in range(50):
            batch.add_message(ServiceBusMessage(f"m{index}", message_id=f"id-{index}"))
        sender.send_messages(batch)
        sender.send_messages([ServiceBusMessage("list-1"), ServiceBusMessage("list-2")])
    received = receive_all(client, "batch", 52)
    assert [str(message) for message in received] == [f"m{i}" for i in range(50)] + [
        "list-1",
        "list-2",
    ]
    sequence_numbers = [message.sequence_number or 0 for message in received]
    assert sequence_numbers == sorted(sequence_numbers)
    assert len(set(sequence_numbers)) == 52


def test_receive_and_delete_takes_the_message_for_good(client: ServiceBusClient) -> None:
    with client.get_queue_sender("receive-delete") as sender:
        sender.send_messages(ServiceBusMessage("once"))
    mode = ServiceBusReceiveMode.RECEIVE_AND_DELETE
    with client.get_queue_receiver("receive-delete", receive_mode=mode) as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        assert str(message) == "once"
        assert message.lock_token is None
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
    with client.get_queue_receiver("receive-delete") as receiver:
        assert receiver.peek_messages(max_message_count=5) == []


def test_completed_message_is_gone(client: ServiceBusClient, emulator: ServiceBusEmulator) -> None:
    with client.get_queue_sender("complete") as sender:
        sender.send_messages(ServiceBusMessage("done"))
    with client.get_queue_receiver("complete") as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        receiver.complete_message(message)
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
    assert emulator.counts("complete")["active_message_count"] == 0


def test_abandon_redelivers_with_delivery_count_plus_one(client: ServiceBusClient) -> None:
    with client.get_queue_sender("abandon") as sender:
        sender.send_messages(ServiceBusMessage("again"))
    with client.get_queue_receiver("abandon") as receiver:
        (first,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        receiver.abandon_message(first)
        (second,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        assert second.sequence_number == first.sequence_number
        assert (first.delivery_count, second.delivery_count) == (0, 1)
        assert second.lock_token != first.lock_token
        receiver.complete_message(second)


def test_deferred_message_is_received_by_sequence_number(client: ServiceBusClient) -> None:
    with client.get_queue_sender("defer") as sender:
        sender.send_messages(ServiceBusMessage("later"))
    with client.get_queue_receiver("defer") as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        receiver.defer_message(message)
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
        assert message.sequence_number is not None
        (peeked,) = receiver.peek_messages(
            max_message_count=1, sequence_number=message.sequence_number
        )
        assert peeked.state is ServiceBusMessageState.DEFERRED
        (deferred,) = receiver.receive_deferred_messages([message.sequence_number])
        assert str(deferred) == "later"
        assert deferred.lock_token is not None
        receiver.complete_message(deferred)
        assert receiver.peek_messages(max_message_count=1, sequence_number=1) == []


def test_dead_letter_keeps_reason_and_description(client: ServiceBusClient) -> None:
    with client.get_queue_sender("dead-letter") as sender:
        sender.send_messages(ServiceBusMessage("poison", application_properties={"job": "j9"}))
    with client.get_queue_receiver("dead-letter") as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        receiver.dead_letter_message(
            message, reason="SceneCorrupt", error_description="not a blend file"
        )
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
    dlq = ServiceBusSubQueue.DEAD_LETTER
    with client.get_queue_receiver("dead-letter", sub_queue=dlq) as receiver:
        (dead,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        assert str(dead) == "poison"
        assert dead.dead_letter_reason == "SceneCorrupt"
        assert dead.dead_letter_error_description == "not a blend file"
        assert dead.dead_letter_source == "dead-letter"
        assert (dead.application_properties or {})[b"job"] == b"j9"
        receiver.complete_message(dead)


def test_expired_lock_puts_the_message_back(client: ServiceBusClient) -> None:
    with client.get_queue_sender("lock-expiry") as sender:
        sender.send_messages(ServiceBusMessage("slow worker"))
    with client.get_queue_receiver("lock-expiry") as receiver:
        (first,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        time.sleep(1.5)
        (second,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        assert second.sequence_number == first.sequence_number
        assert second.delivery_count == 1
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(first)
        receiver.complete_message(second)


def test_renewed_lock_outlives_the_lock_duration(client: ServiceBusClient) -> None:
    with client.get_queue_sender("renew") as sender:
        sender.send_messages(ServiceBusMessage("long render"))
    with client.get_queue_receiver("renew") as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        first_until = message.locked_until_utc
        assert first_until is not None
        for _ in range(3):  # 3 s in all: past the 2 s lock duration
            time.sleep(1)
            receiver.renew_message_lock(message)
        assert (message.locked_until_utc or first_until) > first_until
        receiver.complete_message(message)
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []


def test_max_delivery_count_moves_the_message_to_dead_letter(client: ServiceBusClient) -> None:
    with client.get_queue_sender("max-delivery") as sender:
        sender.send_messages(ServiceBusMessage("always fails"))
    with client.get_queue_receiver("max-delivery") as receiver:
        for attempt in range(3):
            (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
            assert message.delivery_count == attempt
            receiver.abandon_message(message)
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
    dlq = ServiceBusSubQueue.DEAD_LETTER
    with client.get_queue_receiver("max-delivery", sub_queue=dlq) as receiver:
        (dead,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
        assert dead.delivery_count == 3
        receiver.complete_message(dead)


def test_lock_expiries_count_toward_max_delivery(
    client: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    with client.get_queue_sender("max-delivery-expiry") as sender:
        sender.send_messages(ServiceBusMessage("crashing worker"))
    with client.get_queue_receiver("max-delivery-expiry") as receiver:
        for _ in range(2):
            receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
            time.sleep(1.3)
    deadline = time.monotonic() + 5
    while emulator.counts("max-delivery-expiry")["dead_letter_message_count"] == 0:
        assert time.monotonic() < deadline, "the message never reached the dead-letter queue"
        time.sleep(0.1)
    assert emulator.counts("max-delivery-expiry")["active_message_count"] == 0


def test_expired_message_is_dead_lettered_when_the_queue_says_so(client: ServiceBusClient) -> None:
    with client.get_queue_sender("ttl-dead-letter") as sender:
        sender.send_messages(ServiceBusMessage("stale", time_to_live=timedelta(seconds=1)))
    time.sleep(1.5)
    with client.get_queue_receiver("ttl-dead-letter") as receiver:
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
    dlq = ServiceBusSubQueue.DEAD_LETTER
    with client.get_queue_receiver("ttl-dead-letter", sub_queue=dlq) as receiver:
        (dead,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        assert str(dead) == "stale"
        assert dead.dead_letter_reason == "TTLExpiredException"
        receiver.complete_message(dead)


def test_expired_message_is_dropped_when_the_queue_does_not_dead_letter(
    client: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    with client.get_queue_sender("ttl-drop") as sender:
        sender.send_messages(ServiceBusMessage("stale", time_to_live=timedelta(seconds=1)))
    time.sleep(1.5)
    with client.get_queue_receiver("ttl-drop") as receiver:
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
    counts = emulator.counts("ttl-drop")
    assert counts["active_message_count"] == counts["dead_letter_message_count"] == 0


def test_queue_default_time_to_live_applies_without_a_message_ttl(
    client: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    with client.get_queue_sender("ttl-queue-default") as sender:
        sender.send_messages(ServiceBusMessage("no ttl of its own"))
    deadline = time.monotonic() + 5
    while emulator.counts("ttl-queue-default")["dead_letter_message_count"] == 0:
        assert time.monotonic() < deadline, "the queue's default TTL never expired the message"
        time.sleep(0.1)


def test_scheduled_message_arrives_at_its_time(client: ServiceBusClient) -> None:
    when = datetime.now(UTC) + timedelta(seconds=4)
    with client.get_queue_sender("scheduled") as sender:
        (sequence_number,) = sender.schedule_messages(ServiceBusMessage("tick"), when)
    with client.get_queue_receiver("scheduled") as receiver:
        (peeked,) = receiver.peek_messages(max_message_count=1)
        assert peeked.sequence_number == sequence_number
        assert peeked.state is ServiceBusMessageState.SCHEDULED
        assert receiver.receive_messages(max_message_count=1, max_wait_time=0.5) == []
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=8)
        assert datetime.now(UTC) >= when - timedelta(milliseconds=100)
        assert str(message) == "tick"
        receiver.complete_message(message)


def test_scheduled_enqueue_time_on_a_plain_send_schedules_it(client: ServiceBusClient) -> None:
    when = datetime.now(UTC) + timedelta(seconds=4)
    with client.get_queue_sender("scheduled-annotation") as sender:
        sender.send_messages(ServiceBusMessage("later", scheduled_enqueue_time_utc=when))
    with client.get_queue_receiver("scheduled-annotation") as receiver:
        assert receiver.receive_messages(max_message_count=1, max_wait_time=0.3) == []
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=8)
        assert datetime.now(UTC) >= when - timedelta(milliseconds=100)
        receiver.complete_message(message)


def test_cancelled_scheduled_message_never_arrives(
    client: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=1)
    with client.get_queue_sender("scheduled-cancel") as sender:
        sequence_numbers = sender.schedule_messages(
            [ServiceBusMessage("a"), ServiceBusMessage("b")], when
        )
        assert emulator.counts("scheduled-cancel")["scheduled_message_count"] == 2
        sender.cancel_scheduled_messages(sequence_numbers)
    assert emulator.counts("scheduled-cancel")["scheduled_message_count"] == 0
    with client.get_queue_receiver("scheduled-cancel") as receiver:
        assert receiver.receive_messages(max_message_count=2, max_wait_time=2) == []


def test_peek_reads_without_locking(client: ServiceBusClient) -> None:
    with client.get_queue_sender("peek") as sender:
        sender.send_messages([ServiceBusMessage(f"p{i}") for i in range(5)])
    with client.get_queue_receiver("peek") as receiver:
        first = receiver.peek_messages(max_message_count=3)
        rest = receiver.peek_messages(max_message_count=10)
        assert [str(m) for m in first + rest] == [f"p{i}" for i in range(5)]
        assert all(message.state is ServiceBusMessageState.ACTIVE for message in first)
    assert len(receive_all(client, "peek", 5)) == 5


def test_duplicate_message_id_within_the_window_is_dropped(client: ServiceBusClient) -> None:
    with client.get_queue_sender("dedupe") as sender:
        sender.send_messages(ServiceBusMessage("first", message_id="job-1:0"))
        sender.send_messages(ServiceBusMessage("retry", message_id="job-1:0"))
        batch = sender.create_message_batch()
        batch.add_message(ServiceBusMessage("again", message_id="job-1:0"))
        batch.add_message(ServiceBusMessage("other", message_id="job-1:1"))
        sender.send_messages(batch)
    received = receive_all(client, "dedupe", 4)
    assert [str(message) for message in received] == ["first", "other"]


def test_duplicates_pass_when_the_queue_does_not_detect_them(client: ServiceBusClient) -> None:
    with client.get_queue_sender("no-dedupe") as sender:
        sender.send_messages(ServiceBusMessage("one", message_id="same"))
        sender.send_messages(ServiceBusMessage("two", message_id="same"))
    assert len(receive_all(client, "no-dedupe", 2)) == 2


def test_message_of_250_kb_round_trips_and_a_larger_one_is_refused(
    client: ServiceBusClient,
) -> None:
    body = bytes(range(256)) * 1000  # 256,000 bytes of body
    with client.get_queue_sender("large") as sender:
        sender.send_messages(ServiceBusMessage(body))
        with pytest.raises(MessageSizeExceededError):
            sender.send_messages(ServiceBusMessage(body + b"x" * 8000))
    (message,) = receive_all(client, "large", 1)
    assert b"".join(message.body) == body


def test_unknown_queue_raises_entity_not_found_quickly(client: ServiceBusClient) -> None:
    started = time.monotonic()
    with (
        pytest.raises(MessagingEntityNotFoundError),
        client.get_queue_sender("no-such-queue") as sender,
    ):
        sender.send_messages(ServiceBusMessage("lost"))
    with (
        pytest.raises(MessagingEntityNotFoundError),
        client.get_queue_receiver("no-such-queue") as receiver,
    ):
        receiver.receive_messages(max_message_count=1, max_wait_time=1)
    assert time.monotonic() - started < 30, "an unknown queue must fail, not hang"


def test_management_endpoint_counts_active_dead_letter_and_scheduled(
    client: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    with client.get_queue_sender("counts") as sender:
        sender.send_messages(
            [ServiceBusMessage("a"), ServiceBusMessage("b"), ServiceBusMessage("c")]
        )
        sender.schedule_messages(ServiceBusMessage("s"), datetime.now(UTC) + timedelta(hours=1))
    with client.get_queue_receiver("counts") as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
        receiver.dead_letter_message(message, reason="test")
    counts = emulator.counts("counts")
    assert counts["active_message_count"] == 2
    assert counts["dead_letter_message_count"] == 1
    assert counts["scheduled_message_count"] == 1
