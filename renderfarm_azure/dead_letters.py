"""The dead-letter handler's adapters: it reads each chunk queue's dead-letter queue and hands
every message to renderfarm.jobs.dead_letters (the chunk marked failed and settled in its
job). In Azure it runs as a Service Bus triggered Function (functions/dead_letter_trigger.py);
locally ``python -m renderfarm_azure.dead_letters`` runs the same logic over the queue-consumer
runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.storage.blob import ContainerClient

from renderfarm.chunks.record import ChunkRecord
from renderfarm.jobs.dead_letters import (
    DeadLetter,
    JobSettling,
    record_dead_letter,
)
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm_azure import queue_consumer
from renderfarm_azure.chunk_records import update_chunk_record
from renderfarm_azure.job_ledger import job_lifecycle
from renderfarm_azure.queue_consumer import COMPLETE, ConsumerOptions, Settlement

log = logging.getLogger(__name__)


class ContainerChunkRecords:
    """Chunk records' conditional updates in the ``jobs`` container."""

    def __init__(self, jobs: ContainerClient):
        self._jobs = jobs

    def update(
        self, job_id: str, index: int, change: Callable[[ChunkRecord | None], ChunkRecord]
    ) -> ChunkRecord:
        record, _ = update_chunk_record(self._jobs, job_id, index, change)
        return record


def settling_of(lifecycle: JobLifecycle | None) -> JobSettling | None:
    if lifecycle is None:
        return None
    return JobSettling(manifests=lifecycle.store.manifests, ledger=lifecycle)


def dead_letter_of(message: ServiceBusReceivedMessage) -> DeadLetter:
    return DeadLetter(
        body=b"".join(message.body),
        message_id=message.message_id,
        reason=message.dead_letter_reason,
        description=message.dead_letter_error_description,
        delivery_count=message.delivery_count or 0,
    )


def handle(
    jobs: ContainerClient,
    message: ServiceBusReceivedMessage,
    lifecycle: JobLifecycle | None = None,
) -> ChunkRecord | None:
    return record_dead_letter(
        dead_letter_of(message),
        records=ContainerChunkRecords(jobs),
        settling=settling_of(lifecycle),
        at=datetime.now(UTC),
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
    from renderfarm.shared.blender_pools import farm_queues  # noqa: PLC0415 (entry point)
    from renderfarm.shared.settings import Settings  # noqa: PLC0415
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
