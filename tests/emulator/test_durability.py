"""What an acknowledged send promises: it survives ``kill -9`` of the emulator and a restart."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceivedMessage,
    ServiceBusSubQueue,
)

from testbed.emulators import ServiceBusEmulator, run_servicebus, write_config

WAIT = 2
BASE: dict[str, Any] = {"LockDuration": "PT30S", "MaxDeliveryCount": 10}
QUEUES: dict[str, dict[str, Any]] = {
    "durable": BASE,
    "durable-kinds": BASE,
    "durable-dedupe": {
        **BASE,
        "RequiresDuplicateDetection": True,
        "DuplicateDetectionHistoryTimeWindow": "PT10M",
    },
}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ServiceBusEmulator]:
    """An emulator of this test's own, so killing it harms no other test."""
    config = write_config(tmp_path / "config.json", QUEUES)
    with run_servicebus(tmp_path / "data", config) as service:
        yield service


def kill_and_restart(emulator: ServiceBusEmulator) -> None:
    assert emulator.stop(signal.SIGKILL) == -signal.SIGKILL
    emulator.start()  # same ports, same data folder


def drain(connection_string: str, queue: str, **kwargs: Any) -> list[ServiceBusReceivedMessage]:
    """Receive and complete until a receive comes back empty."""
    received: list[ServiceBusReceivedMessage] = []
    with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_receiver(queue, **kwargs) as receiver,
    ):
        while batch := receiver.receive_messages(max_message_count=100, max_wait_time=WAIT):
            for message in batch:
                receiver.complete_message(message)
            received.extend(batch)
    return received


def test_acknowledged_and_locked_messages_survive_kill_9(emulator: ServiceBusEmulator) -> None:
    sent = {f"m-{i:03d}" for i in range(200)}
    ordered = sorted(sent)
    with ServiceBusClient.from_connection_string(emulator.connection_string) as client:
        with client.get_queue_sender("durable") as sender:
            for start in range(0, len(ordered), 50):
                chunk = ordered[start : start + 50]
                sender.send_messages([ServiceBusMessage(i, message_id=i) for i in chunk])
        with client.get_queue_receiver("durable") as receiver:
            locked = receiver.receive_messages(max_message_count=10, max_wait_time=WAIT)
            assert len(locked) == 10  # held, never settled, while the emulator dies

            kill_and_restart(emulator)

            received = drain(emulator.connection_string, "durable")
    assert sorted(str(m) for m in received) == ordered
    assert {m.message_id for m in locked} <= {m.message_id for m in received}
    assert emulator.counts("durable")["total_message_count"] == 0


def test_scheduled_and_dead_lettered_messages_survive_kill_9(
    emulator: ServiceBusEmulator,
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    with ServiceBusClient.from_connection_string(emulator.connection_string) as client:
        with client.get_queue_sender("durable-kinds") as sender:
            (scheduled_seq,) = sender.schedule_messages(ServiceBusMessage("later"), later)
            sender.send_messages(ServiceBusMessage("poison"))
        with client.get_queue_receiver("durable-kinds") as receiver:
            (poison,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
            receiver.dead_letter_message(poison, reason="Corrupt", error_description="bad blend")

    kill_and_restart(emulator)

    counts = emulator.counts("durable-kinds")
    assert counts["scheduled_message_count"] == 1
    assert counts["dead_letter_message_count"] == 1
    with (
        ServiceBusClient.from_connection_string(emulator.connection_string) as client,
        client.get_queue_receiver("durable-kinds") as receiver,
    ):
        (peeked,) = receiver.peek_messages(max_message_count=5)
        assert peeked.sequence_number == scheduled_seq
        assert str(peeked) == "later"
    (dead,) = drain(
        emulator.connection_string, "durable-kinds", sub_queue=ServiceBusSubQueue.DEAD_LETTER
    )
    assert str(dead) == "poison"
    assert dead.dead_letter_reason == "Corrupt"
    assert dead.dead_letter_error_description == "bad blend"


def test_duplicate_detection_remembers_message_ids_across_kill_9(
    emulator: ServiceBusEmulator,
) -> None:
    with (
        ServiceBusClient.from_connection_string(emulator.connection_string) as client,
        client.get_queue_sender("durable-dedupe") as sender,
    ):
        sender.send_messages(ServiceBusMessage("first", message_id="job-1:0"))

    kill_and_restart(emulator)

    with (
        ServiceBusClient.from_connection_string(emulator.connection_string) as client,
        client.get_queue_sender("durable-dedupe") as sender,
    ):
        sender.send_messages(ServiceBusMessage("retry", message_id="job-1:0"))
        sender.send_messages(ServiceBusMessage("next", message_id="job-1:1"))
    received = drain(emulator.connection_string, "durable-dedupe")
    assert [str(message) for message in received] == ["first", "next"]
