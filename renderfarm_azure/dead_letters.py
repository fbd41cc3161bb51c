"""Dead-lettered chunks into their job's status.

A worker that dead-letters a poison chunk records the failure itself, but a chunk can also land in
the dead-letter queue with no one to say so: its workers were killed (out of memory, evicted) until
MaxDeliveryCount ran out, or its time-to-live expired. This handler reads the dead-letter queue and
marks each such chunk failed, with the reason Service Bus gives. In Azure it runs as a Service Bus
triggered Function; locally `python -m renderfarm_azure.dead_letters` runs the same logic.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.storage.blob import ContainerClient

from renderfarm import chunk_states
from renderfarm.chunk_record import ChunkRecord
from renderfarm.chunk_settlement import settle_chunk
from renderfarm.job_lifecycle import JobLifecycle
from renderfarm.messages import ChunkMessage, MessageFormatError, parse_message_id
from renderfarm_azure import queue_consumer
from renderfarm_azure.chunk_records import update_chunk_record
from renderfarm_azure.job_ledger import job_lifecycle
from renderfarm_azure.queue_consumer import COMPLETE, ConsumerOptions, Settlement

log = logging.getLogger(__name__)


def chunk_of(body: bytes, message_id: str | None) -> tuple[str, int] | None:
    """(job id, chunk index) of a dead-lettered message, from its body or else its message-id."""
    try:
        chunk = ChunkMessage.from_json(body)
        return chunk.job_id, chunk.chunk_index
    except MessageFormatError:
        pass
    try:
        return parse_message_id(message_id or "")
    except MessageFormatError:
        return None


def record_dead_letter(  # noqa: PLR0913 - keyword-only: the dead-lettered message's fields
    jobs: ContainerClient,
    *,
    body: bytes,
    message_id: str | None,
    reason: str | None,
    description: str | None,
    delivery_count: int,
    lifecycle: JobLifecycle | None = None,
) -> ChunkRecord | None:
    """Mark the message's chunk failed and settle it in its job (whose end it may be); None
    when the message is not a chunk message."""
    found = chunk_of(body, message_id)
    if found is None:
        log.warning("dead-lettered message %s is not a chunk message", message_id)
        return None
    job_id, index = found
    record, _ = update_chunk_record(
        jobs,
        job_id,
        index,
        lambda current: chunk_states.dead_lettered(
            current or chunk_states.new_record(job_id, index),
            reason=reason or "DeadLettered",
            description=description or "",
            delivery_count=delivery_count,
            at=datetime.now(UTC),
        ),
    )
    if lifecycle is not None and chunk_states.is_settled(record.state):
        _settle(lifecycle, record)
    return record


def _settle(lifecycle: JobLifecycle, record: ChunkRecord) -> None:
    versioned = lifecycle.store.manifests.read_manifest(record.job_id)
    if versioned is None:
        log.warning("dead-lettered chunk of job %s, which has no manifest", record.job_id)
        return
    settle_chunk(
        lifecycle,
        versioned.manifest,
        record.chunk_index,
        record.state,
        error=record.last_error or "",
    )


def handle(
    jobs: ContainerClient,
    message: ServiceBusReceivedMessage,
    lifecycle: JobLifecycle | None = None,
) -> ChunkRecord | None:
    return record_dead_letter(
        jobs,
        body=b"".join(message.body),
        message_id=message.message_id,
        reason=message.dead_letter_reason,
        description=message.dead_letter_error_description,
        delivery_count=message.delivery_count or 0,
        lifecycle=lifecycle,
    )


def drain(  # noqa: PLR0913 - keyword-only: the consumer's options
    client: ServiceBusClient,
    jobs: ContainerClient,
    queue: str,
    *,
    stop: threading.Event,
    wait_s: float = 2.0,
    once: bool = False,
    lifecycle: JobLifecycle | None = None,
) -> int:
    """Record and complete dead-lettered chunks until stopped (or the queue is empty, ``once``);
    a chunk that cannot be recorded now is abandoned, for the next pass."""

    def record(message: ServiceBusReceivedMessage) -> Settlement:
        handle(jobs, message, lifecycle)
        return COMPLETE

    options = ConsumerOptions(wait_s=wait_s, once=once)
    with client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver:
        return queue_consumer.run(receiver, record, stop=stop, options=options)


def main() -> int:
    """The local farm's dead-letter handler: the Function's logic as a process, one consumer
    (with its own Service Bus clients) per chunk queue (pool, band and device)."""
    from renderfarm.blender_pools import farm_queues  # noqa: PLC0415 (entry point)
    from renderfarm.settings import Settings  # noqa: PLC0415
    from renderfarm_azure import clients  # noqa: PLC0415

    settings = Settings()
    blob_service = clients.blob_service(settings)
    jobs = blob_service.get_container_client(settings.jobs_container)

    def consumer(queue: str) -> Callable[[threading.Event], int]:
        def serve(stop: threading.Event) -> int:
            with clients.servicebus(settings) as client, clients.servicebus(settings) as events:
                lifecycle = job_lifecycle(settings, blob_service=blob_service, bus=events)
                return drain(client, jobs, queue, stop=stop, lifecycle=lifecycle)

        return serve

    queues = farm_queues(settings.queue_prefix, settings.blender_pools(), gpu=settings.gpu_workers)
    return queue_consumer.serve_forever([consumer(queue) for queue in queues])


if __name__ == "__main__":
    raise SystemExit(main())
