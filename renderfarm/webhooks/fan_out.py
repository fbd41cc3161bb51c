"""An event into one delivery per webhook of its tenant that subscribed to its type: the events
consumer's second step (functions/events.py), after the previews of a completed job."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from renderfarm.jobs.events import JobEvent
from renderfarm.webhooks.rules import Delivery, Webhook

log = logging.getLogger(__name__)


class TenantWebhooks(Protocol):
    """A tenant's webhooks (renderfarm_azure.webhooks.store.WebhookStore)."""

    def list(self, tenant: str) -> list[Webhook]: ...


class DeliverySender(Protocol):
    """The deliveries queue (renderfarm_azure.webhooks.queue.DeliveryQueue): a message per
    delivery, its id fixed by event and webhook."""

    def send(self, deliveries: Sequence[Delivery]) -> None: ...


def fan_out(
    event: JobEvent,
    summary: Mapping[str, Any],
    *,
    store: TenantWebhooks,
    deliveries: DeliverySender,
) -> int:
    """Queue the event for each matching webhook; returns how many deliveries were queued.

    Safe to repeat (a redelivered event): each delivery's message-id is fixed by event and
    webhook, so the queue drops the copies. Raises DependencyUnavailable when Blob Storage or
    Service Bus does not answer: leave the event on its queue and try again later.
    """
    matching = [webhook for webhook in store.list(event.tenant) if webhook.wants(event.type)]
    queued = [Delivery.of_event(event, webhook.id, dict(summary)) for webhook in matching]
    deliveries.send(queued)
    if queued:
        log.info(
            "event %s queued for %d webhook(s)",
            event.id,
            len(queued),
            extra={"job_id": event.job_id, "tenant": event.tenant},
        )
    return len(queued)
