"""The emulator serves the asyncio client (azure.servicebus.aio) as it serves the sync one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import (
    ServiceBusMessage,
    ServiceBusMessageState,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver

from testbed.emulators import ServiceBusEmulator

WAIT = 2  # seconds a receive waits for messages that should be there


@pytest.fixture
async def aclient(emulator: ServiceBusEmulator) -> AsyncIterator[ServiceBusClient]:
    async with ServiceBusClient.from_connection_string(emulator.connection_string) as client:
        yield client


async def receive_one(receiver: ServiceBusReceiver) -> ServiceBusReceivedMessage:
    (message,) = await receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
    return message


async def receive_one_within(
    receiver: ServiceBusReceiver, *, seconds: float
) -> ServiceBusReceivedMessage:
    (message,) = await receiver.receive_messages(max_message_count=1, max_wait_time=seconds)
    return message


async def test_batch_send_then_receive_and_complete_drains_the_queue(
    aclient: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    async with aclient.get_queue_sender("batch-aio") as sender:
        batch = await sender.create_message_batch()
        for i in range(20):
            batch.add_message(ServiceBusMessage(f"m{i}", message_id=f"id-{i}"))
        await sender.send_messages(batch)
    received: list[str] = []
    async with aclient.get_queue_receiver("batch-aio") as receiver:
        while len(received) < 20:
            messages = await receiver.receive_messages(max_message_count=20, max_wait_time=WAIT)
            assert messages, f"only {len(received)} of 20 messages arrived"
            for message in messages:
                await receiver.complete_message(message)
                received.append(str(message))
    assert received == [f"m{i}" for i in range(20)]
    assert emulator.counts("batch-aio")["total_message_count"] == 0


async def test_message_properties_round_trip(aclient: ServiceBusClient) -> None:
    async with aclient.get_queue_sender("properties-aio") as sender:
        await sender.send_messages(
            ServiceBusMessage(
                b"payload",
                message_id="job:1",
                subject="render-chunk",
                application_properties={"attempt": 1},
            )
        )
    async with aclient.get_queue_receiver("properties-aio") as receiver:
        message = await receive_one(receiver)
        assert b"".join(message.body) == b"payload"
        assert message.message_id == "job:1"
        assert message.subject == "render-chunk"
        assert message.application_properties == {b"attempt": 1}
        assert message.locked_until_utc is not None
        await receiver.complete_message(message)


async def test_abandon_redelivers_with_delivery_count_plus_one(aclient: ServiceBusClient) -> None:
    async with aclient.get_queue_sender("abandon-aio") as sender:
        await sender.send_messages(ServiceBusMessage("again"))
    async with aclient.get_queue_receiver("abandon-aio") as receiver:
        first = await receive_one(receiver)
        assert first.delivery_count == 0
        await receiver.abandon_message(first)
        second = await receive_one(receiver)
        assert str(second) == "again"
        assert second.delivery_count == 1
        assert second.sequence_number == first.sequence_number
        await receiver.complete_message(second)


async def test_deferred_message_comes_back_by_sequence_number(aclient: ServiceBusClient) -> None:
    async with aclient.get_queue_sender("defer-aio") as sender:
        await sender.send_messages(ServiceBusMessage("later"))
    async with aclient.get_queue_receiver("defer-aio") as receiver:
        message = await receive_one(receiver)
        await receiver.defer_message(message)
        assert await receiver.receive_messages(max_message_count=1, max_wait_time=0.5) == []
        assert message.sequence_number is not None
        (deferred,) = await receiver.receive_deferred_messages([message.sequence_number])
        assert str(deferred) == "later"
        assert deferred.state is ServiceBusMessageState.DEFERRED
        await receiver.complete_message(deferred)


async def test_dead_lettered_message_carries_its_reason_into_the_dlq(
    aclient: ServiceBusClient,
) -> None:
    async with aclient.get_queue_sender("dead-letter-aio") as sender:
        await sender.send_messages(ServiceBusMessage("poison"))
    async with aclient.get_queue_receiver("dead-letter-aio") as receiver:
        message = await receive_one(receiver)
        await receiver.dead_letter_message(
            message, reason="BlendFileCorrupt", error_description="not a blend file"
        )
    dlq = ServiceBusSubQueue.DEAD_LETTER
    async with aclient.get_queue_receiver("dead-letter-aio", sub_queue=dlq) as receiver:
        dead = await receive_one(receiver)
        assert str(dead) == "poison"
        assert dead.dead_letter_reason == "BlendFileCorrupt"
        assert dead.dead_letter_error_description == "not a blend file"
        assert dead.dead_letter_source == "dead-letter-aio"
        await receiver.complete_message(dead)


async def test_renewed_lock_outlives_the_lock_duration(aclient: ServiceBusClient) -> None:
    """One renewal at a time, as a worker does (servicebus-protocol.md, Known traps)."""
    async with aclient.get_queue_sender("renew-aio") as sender:
        await sender.send_messages(ServiceBusMessage("long render"))
    async with aclient.get_queue_receiver("renew-aio") as receiver:
        message = await receive_one(receiver)
        first_expiry = message.locked_until_utc
        assert first_expiry is not None
        for _ in range(3):  # 3 x 1 s spans longer than the queue's 2 s lock
            await asyncio.sleep(1.0)
            renewed = await receiver.renew_message_lock(message)
            assert renewed > first_expiry
        await receiver.complete_message(message)  # would raise MessageLockLostError if lost


async def test_peek_shows_messages_without_locking_them(aclient: ServiceBusClient) -> None:
    async with aclient.get_queue_sender("peek-aio") as sender:
        await sender.send_messages([ServiceBusMessage(f"p{i}") for i in range(3)])
    async with aclient.get_queue_receiver("peek-aio") as receiver:
        peeked = await receiver.peek_messages(max_message_count=10)
        assert [str(message) for message in peeked] == ["p0", "p1", "p2"]
        received = await receiver.receive_messages(max_message_count=3, max_wait_time=WAIT)
        assert [str(message) for message in received] == ["p0", "p1", "p2"]
        for message in received:
            await receiver.complete_message(message)


async def test_scheduled_message_can_be_cancelled_before_it_arrives(
    aclient: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    async with aclient.get_queue_sender("scheduled-aio") as sender:
        keep, drop = await sender.schedule_messages(
            [ServiceBusMessage("keep"), ServiceBusMessage("drop")], soon
        )
        assert emulator.counts("scheduled-aio")["scheduled_message_count"] == 2
        await sender.cancel_scheduled_messages(drop)
    assert keep != drop
    async with aclient.get_queue_receiver("scheduled-aio") as receiver:
        message = await receive_one_within(receiver, seconds=8)
        assert str(message) == "keep"
        assert message.sequence_number == keep
        assert datetime.now(UTC) >= soon - timedelta(milliseconds=100)
        await receiver.complete_message(message)
        assert await receiver.receive_messages(max_message_count=1, max_wait_time=1) == []


async def test_receive_and_delete_takes_messages_for_good(
    aclient: ServiceBusClient, emulator: ServiceBusEmulator
) -> None:
    async with aclient.get_queue_sender("receive-delete-aio") as sender:
        await sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
    mode = ServiceBusReceiveMode.RECEIVE_AND_DELETE
    async with aclient.get_queue_receiver("receive-delete-aio", receive_mode=mode) as receiver:
        taken = await receiver.receive_messages(max_message_count=2, max_wait_time=WAIT)
        assert sorted(str(message) for message in taken) == ["a", "b"]
    assert emulator.counts("receive-delete-aio")["total_message_count"] == 0
    async with aclient.get_queue_receiver("receive-delete-aio") as receiver:
        assert await receiver.receive_messages(max_message_count=1, max_wait_time=0.5) == []
