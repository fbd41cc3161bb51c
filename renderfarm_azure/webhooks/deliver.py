"""The deliveries consumer: each message of ``webhook-deliveries`` becomes one signed POST.

- 2xx: delivered; the webhook's stats say so.
- No answer, 408, 429 or 5xx: a new message with the next try is scheduled after the backoff,
  then the current one is completed; after the last try the message is dead-lettered
  (``WebhookDeliveryFailed``, the last error as description) and counted as a failure.
- 410 Gone: the webhook is deleted. Any other status, or a host that now resolves to an address a
  webhook may not call: a failure, not retried.

Retries never wait in the consumer: the schedule is the backoff. Every POST is bounded in time,
and the local process runs several at once, so a slow receiver holds up no other.

In Azure the Service Bus triggered Function ``webhook_deliveries`` (functions/webhook_trigger.py)
runs ``Deliverer.handle`` per message; locally ``python -m renderfarm_azure.webhooks`` runs
``serve`` over the same logic.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage

from renderfarm.webhooks.rules import (
    DEAD_LETTER_REASON,
    Delivery,
    DeliveryFormatError,
    Outcome,
    RetryPolicy,
    Webhook,
    outcome_of,
)
from renderfarm.webhooks.urls import HostUnresolvable, Resolver, WebhookUrlRejected, vet_url
from renderfarm_azure import queue_consumer
from renderfarm_azure.queue_consumer import (
    COMPLETE,
    TRANSIENT_ERRORS,
    ConsumerOptions,
    Settlement,
)
from renderfarm_azure.webhooks import transport
from renderfarm_azure.webhooks.queue import DeliveryQueue
from renderfarm_azure.webhooks.secret_store import SecretStore
from renderfarm_azure.webhooks.store import StatsContention, WebhookStore

log = logging.getLogger(__name__)

NOT_A_DELIVERY = "NotAWebhookDelivery"
#: POSTs in flight at once in the local consumer.
DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True, kw_only=True)
class Attempt:
    outcome: Outcome
    status: int | None
    error: str | None


class Deliverer:
    """Delivers one message's try and settles what follows from it (retry, stats, removal)."""

    def __init__(  # noqa: PLR0913 - keyword-only: each a port or setting delivery needs
        self,
        *,
        store: WebhookStore,
        secrets: SecretStore,
        queue: DeliveryQueue,
        development: bool,
        policy: RetryPolicy | None = None,
        resolve: Resolver | None = None,
        timeout_s: float = transport.DEFAULT_TIMEOUT_S,
        tls: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._store = store
        self._secrets = secrets
        self._queue = queue
        self._development = development
        self.policy = policy or RetryPolicy()
        self._resolve = resolve or transport.system_resolver()
        self._timeout_s = timeout_s
        self._tls = tls
        self._clock = clock

    def handle(self, body: bytes) -> Settlement:
        """One message: raises only what should leave it for another try (TRANSIENT_ERRORS)."""
        try:
            delivery = Delivery.from_json(body)
        except DeliveryFormatError as error:
            return Settlement(dead_letter_reason=NOT_A_DELIVERY, description=str(error))
        return self.deliver(delivery)

    def deliver(self, delivery: Delivery) -> Settlement:
        webhook = self._store.get(delivery.tenant, delivery.webhook_id)
        secret = self._secrets.get(delivery.tenant, delivery.webhook_id) if webhook else None
        if webhook is None or secret is None:
            log.info("delivery %s dropped: its webhook is gone", delivery.message_id)
            return COMPLETE
        attempt = self._try(webhook, delivery, secret)
        return self._settle(webhook, delivery, attempt)

    def _try(self, webhook: Webhook, delivery: Delivery, secret: str) -> Attempt:
        try:
            target, addresses = vet_url(
                webhook.url, development=self._development, resolve=self._resolve
            )
        except HostUnresolvable as error:
            return Attempt(outcome=Outcome.RETRY, status=None, error=str(error))
        except WebhookUrlRejected as error:
            return Attempt(outcome=Outcome.REJECTED, status=None, error=f"refused: {error}")
        payload = delivery.payload()
        headers = transport.signed_headers(secret, delivery.event_id, payload, self._clock())
        result = transport.post(
            target,
            addresses[0],
            payload.encode(),
            headers,
            timeout_s=self._timeout_s,
            tls=self._tls,
        )
        said = result.error if result.status is None else f"HTTP {result.status}"
        return Attempt(outcome=outcome_of(result.status), status=result.status, error=said)

    def _settle(self, webhook: Webhook, delivery: Delivery, attempt: Attempt) -> Settlement:
        if attempt.outcome is Outcome.GONE:
            self._remove(webhook)
            return COMPLETE
        delay = self.policy.delay_before(delivery.attempt + 1)
        retry = attempt.outcome is Outcome.RETRY and delay is not None
        if retry and delay is not None:  # scheduled before this try is completed: never lost
            self._queue.schedule(delivery.next_try(), self._clock() + timedelta(seconds=delay))
        final = attempt.outcome is not Outcome.DELIVERED and not retry
        self._record(webhook, attempt, final=final)
        self._log(delivery, attempt, retry=retry)
        if attempt.outcome is Outcome.RETRY and not retry:
            return Settlement(
                dead_letter_reason=DEAD_LETTER_REASON, description=attempt.error or ""
            )
        return COMPLETE

    def _remove(self, webhook: Webhook) -> None:
        log.info(
            "webhook %s answered 410 Gone: removed", webhook.id, extra={"tenant": webhook.tenant}
        )
        self._store.delete(webhook.tenant, webhook.id)
        self._secrets.delete(webhook.tenant, webhook.id)

    def _record(self, webhook: Webhook, attempt: Attempt, *, final: bool) -> None:
        """Count the try on the webhook; stats are advisory, so a failure here is only logged."""
        now = self._clock()
        try:
            self._store.update_stats(
                webhook.tenant,
                webhook.id,
                lambda stats: stats.after_try(
                    attempt.outcome, status=attempt.status, error=attempt.error, final=final, at=now
                ),
            )
        except (StatsContention, *TRANSIENT_ERRORS):
            log.warning("stats of webhook %s not updated", webhook.id, exc_info=True)

    def _log(self, delivery: Delivery, attempt: Attempt, *, retry: bool) -> None:
        log.info(
            "delivery %s try %d: %s%s",
            delivery.message_id,
            delivery.attempt,
            attempt.error or attempt.outcome.value,
            ", retry scheduled" if retry else "",
            extra={"tenant": delivery.tenant, "webhook_id": delivery.webhook_id},
        )


def serve(  # noqa: PLR0913 - keyword-only: the consumer's options
    deliverer: Deliverer,
    client: ServiceBusClient,
    queue: str,
    *,
    stop: threading.Event,
    concurrency: int = DEFAULT_CONCURRENCY,
    wait_s: float = 1.0,
) -> int:
    """Deliver until stopped, ``concurrency`` POSTs at a time (renderfarm_azure.queue_consumer);
    returns the messages settled."""

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        return deliverer.handle(b"".join(message.body))

    options = ConsumerOptions(wait_s=wait_s, concurrency=concurrency)
    with client.get_queue_receiver(queue) as receiver:
        return queue_consumer.run(receiver, handle, stop=stop, options=options)


def main() -> int:
    """The local farm's deliveries consumer: the Function's logic as a process."""
    from renderfarm.shared.settings import Settings  # noqa: PLC0415 (entry point)
    from renderfarm_azure import clients  # noqa: PLC0415
    from renderfarm_azure.webhooks.services import webhook_services  # noqa: PLC0415

    settings = Settings()
    services = webhook_services(settings)

    def deliver(stop: threading.Event) -> int:
        with clients.servicebus(settings) as client:
            return serve(services.deliverer(), client, settings.webhook_deliveries_queue, stop=stop)

    try:
        services.ensure_container()
        return queue_consumer.serve_forever([deliver])
    finally:
        services.close()
