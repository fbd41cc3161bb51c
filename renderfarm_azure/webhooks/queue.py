"""The ``webhook-deliveries`` queue: one message per try of one event to one webhook.

The first try's message-id is ``<event id>:<webhook id>``, a retry's adds ``:<try>``: the queue's
duplicate detection drops a repeat of any of them (an event fanned out twice, a retry scheduled
again by a consumer that died before completing the try it made).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from azure.servicebus import ServiceBusClient, ServiceBusMessage

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.webhooks.rules import Delivery
from renderfarm_azure.senders import QueueSenders

CONTENT_TYPE = "application/json"
SUBJECT = "webhook-delivery"


def to_message(delivery: Delivery, at: datetime | None = None) -> ServiceBusMessage:
    return ServiceBusMessage(
        delivery.to_json(),
        message_id=delivery.message_id,
        content_type=CONTENT_TYPE,
        subject=SUBJECT,
        scheduled_enqueue_time_utc=at,
    )


class DeliveryQueue:
    """Sends deliveries, now or scheduled, over a sender of its own (one call at a time)."""

    def __init__(self, *, client: ServiceBusClient, queue: str, breaker: CircuitBreaker):
        self.queue = queue
        self._senders = QueueSenders(client=client, breaker=breaker)

    def send(self, deliveries: Sequence[Delivery]) -> None:
        """Queue the first tries, in as few batches as fit, or raise DependencyUnavailable."""
        if deliveries:
            self._senders.send(self.queue, [to_message(delivery) for delivery in deliveries])

    def schedule(self, delivery: Delivery, at: datetime) -> None:
        """Queue ``delivery`` to become visible at ``at`` (UTC): the backoff before a retry. A
        scheduled-time message, not a scheduled message: its message-id still deduplicates."""
        self._senders.send(self.queue, [to_message(delivery, at)])

    def close(self) -> None:
        self._senders.close()
