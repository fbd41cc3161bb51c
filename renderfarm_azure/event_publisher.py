"""The EventPublisher port over the ``job-events`` queue: each event's id is its message-id, so
the queue's duplicate detection keeps one copy of an event sent twice."""

from __future__ import annotations

from collections.abc import Sequence

from azure.servicebus import ServiceBusMessage

from renderfarm.jobs.events import CONTENT_TYPE, SUBJECT, JobEvent
from renderfarm_azure.senders import QueueSenders


def to_servicebus(event: JobEvent) -> ServiceBusMessage:
    return ServiceBusMessage(
        event.to_json(),
        message_id=event.id,
        content_type=CONTENT_TYPE,
        subject=SUBJECT,
        application_properties={
            "type": event.type.value,
            "job_id": event.job_id,
            "tenant": event.tenant,
        },
    )


class ServiceBusEventPublisher:
    def __init__(self, *, senders: QueueSenders, queue_name: str):
        self._senders = senders
        self._queue = queue_name

    def publish(self, events: Sequence[JobEvent]) -> None:
        if events:
            self._senders.send(self._queue, [to_servicebus(event) for event in events])
