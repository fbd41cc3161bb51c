"""The one runner every queue consumer shares (renderfarm_azure.queue_consumer), over the wire
against the Service Bus emulator: how a handler's outcome settles its message."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage

from renderfarm.jobs.events import EventFormatError
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm_azure import queue_consumer
from renderfarm_azure.queue_consumer import COMPLETE, ConsumerOptions, Settlement
from testbed.emulators import ServiceBusEmulator, run_servicebus, write_config

pytestmark = pytest.mark.timeout(120)

QUEUES = ["complete", "unreadable", "transient", "unexpected", "settlement", "pooled"]
ONCE = ConsumerOptions(wait_s=0.5, once=True)
DEAD_LETTERED = "dead_letter_message_count"


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceBusEmulator]:
    folder = tmp_path_factory.mktemp("consumer-bus")
    config = write_config(
        folder / "config.json",
        {name: {"LockDuration": "PT30S", "MaxDeliveryCount": 5} for name in QUEUES},
    )
    with run_servicebus(folder / "data", config) as service:
        yield service


def send(bus: ServiceBusEmulator, queue: str, *bodies: str) -> None:
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages([ServiceBusMessage(body) for body in bodies])


def consume(
    bus: ServiceBusEmulator,
    queue: str,
    handle: queue_consumer.Handler,
    options: ConsumerOptions = ONCE,
) -> int:
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_receiver(queue) as receiver,
    ):
        return queue_consumer.run(receiver, handle, stop=threading.Event(), options=options)


def dead_letters(bus: ServiceBusEmulator, queue: str) -> list[ServiceBusReceivedMessage]:
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_receiver(queue, sub_queue="deadletter") as receiver,
    ):
        messages = receiver.receive_messages(max_message_count=10, max_wait_time=1)
        for message in messages:
            receiver.complete_message(message)
        return messages


def body(message: ServiceBusReceivedMessage) -> str:
    return b"".join(message.body).decode()


def test_a_handled_message_is_completed(bus: ServiceBusEmulator) -> None:
    send(bus, "complete", "a", "b")
    seen: list[str] = []

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        seen.append(body(message))
        return COMPLETE

    assert consume(bus, "complete", handle) == 2
    assert seen == ["a", "b"]
    assert bus.counts("complete")["total_message_count"] == 0


def test_an_unreadable_message_is_dead_lettered_with_its_reason(bus: ServiceBusEmulator) -> None:
    send(bus, "unreadable", "not an event")

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        raise EventFormatError(f"{body(message)!r} is not JSON")

    assert consume(bus, "unreadable", handle) == 1
    (dead,) = dead_letters(bus, "unreadable")
    assert dead.dead_letter_reason == "BadEvent"
    assert dead.dead_letter_error_description == "'not an event' is not JSON"


def test_a_transient_failure_abandons_the_message_for_its_next_delivery(
    bus: ServiceBusEmulator,
) -> None:
    send(bus, "transient", "a")
    deliveries: list[int] = []

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        deliveries.append(message.delivery_count or 0)
        if len(deliveries) == 1:
            raise DependencyUnavailable("Blob Storage", retry_after=1)
        return COMPLETE

    assert consume(bus, "transient", handle) == 1  # the first try abandoned, the second handled
    assert deliveries == [0, 1]
    assert bus.counts("transient")["total_message_count"] == 0


def test_an_unexpected_exception_abandons_its_message_and_the_consumer_goes_on(
    bus: ServiceBusEmulator,
) -> None:
    send(bus, "unexpected", "bad", "good")
    handled: list[str] = []

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        if body(message) == "bad":
            raise KeyError("a bug")
        handled.append(body(message))
        return COMPLETE

    stop = threading.Event()
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_receiver("unexpected") as receiver,
    ):
        thread = threading.Thread(
            target=queue_consumer.run,
            args=(receiver, handle),
            kwargs={"stop": stop, "options": ConsumerOptions(wait_s=0.2)},
        )
        thread.start()
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and bus.counts("unexpected")["dead_letter_message_count"] == 0
        ):
            time.sleep(0.1)
        stop.set()
        thread.join(30)
    assert handled == ["good"]
    # Abandoned on every delivery until MaxDeliveryCount (5) dead-lettered it: never lost.
    (dead,) = dead_letters(bus, "unexpected")
    assert body(dead) == "bad" and dead.delivery_count == 5


def test_a_handlers_settlement_dead_letters_with_its_reason(bus: ServiceBusEmulator) -> None:
    send(bus, "settlement", "gone")

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        return Settlement(dead_letter_reason="WebhookDeliveryFailed", description="410")

    assert consume(bus, "settlement", handle) == 1
    (dead,) = dead_letters(bus, "settlement")
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == (
        "WebhookDeliveryFailed",
        "410",
    )


def test_a_pooled_consumer_settles_a_fast_message_while_a_slow_one_runs(
    bus: ServiceBusEmulator,
) -> None:
    send(bus, "pooled", "slow", "fast")
    fast_done = threading.Event()
    order: list[str] = []

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        if body(message) == "slow":
            assert fast_done.wait(20), "the fast message waited for the slow one"
        else:
            fast_done.set()
        order.append(body(message))
        return COMPLETE

    options = ConsumerOptions(wait_s=0.5, concurrency=4, once=True)
    assert consume(bus, "pooled", handle, options) == 2
    assert order == ["fast", "slow"]
    assert bus.counts("pooled")["total_message_count"] == 0
