"""The events consumer: what happens when the farm says something happened to a job.

For each event on the ``job-events`` queue: on ``job.completed`` the finalizer builds the job's
previews (idempotent: a redelivered event rebuilds nothing already there); on ``job.quoted`` the
rest of a job that approved itself (under approve_below_usd) is sent, unless it was (the worker
that quoted it may not send to the chunk queues; renderfarm.jobs.approval); then the event fans
out to the tenant's webhooks as one delivery message each, carrying the job's summary as it is
now (a ``budget.threshold`` carries its budget instead: it is about the tenant, not a job).
Nothing here talks to a webhook's receiver: the deliveries consumer does, so no receiver can
stall this one. Every step is safe to repeat, so a crash (kill -9 included) only means the
message comes back and the steps run again.

In Azure this is the ``job_events`` Function (function_app.py); the local farm runs the same
logic as a supervised process, ``python -m functions.events``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import azure.functions as func
from azure.servicebus import ServiceBusReceivedMessage

from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.shared.errors import JobNotFound
from renderfarm.shared.settings import Settings, get_settings
from renderfarm.webhooks.fan_out import fan_out
from renderfarm_azure import queue_consumer
from renderfarm_azure.queue_consumer import COMPLETE, ConsumerOptions, Settlement
from renderfarm_azure.services import Services
from renderfarm_azure.webhooks.services import WebhookServices, webhook_services

log = logging.getLogger(__name__)

FUNCTION_NAME = "job_events"
#: Status fields a webhook's payload leaves out: per-chunk detail and short-lived URLs.
SUMMARY_EXCLUDES = {"chunks", "frame_urls", "frame_urls_next_offset", "frame_urls_expire_at"}


def events_queue(environ: Mapping[str, str]) -> str:
    """The queue the trigger listens on, read when the host indexes the functions (never
    raises: an import-time error in a Functions app unregisters every function)."""
    default = str(Settings.model_fields["events_queue"].default)
    return environ.get("RENDERFARM_EVENTS_QUEUE") or default


@dataclass(frozen=True, kw_only=True)
class EventConsumer:
    services: Services
    webhooks: WebhookServices

    def handle(self, body: bytes) -> int:
        """Act on one event message; returns the deliveries queued. Raises EventFormatError for
        a message that is not an event (dead-letter it) and DependencyUnavailable when storage
        or Service Bus does not answer (leave it for a retry)."""
        event = JobEvent.from_json(body)
        summary = self._finalize_and_summarize(event)
        if summary is None:
            return 0
        return fan_out(
            event, summary, store=self.webhooks.store, deliveries=self.webhooks.deliveries
        )

    def _finalize_and_summarize(self, event: JobEvent) -> dict[str, Any] | None:
        if event.type is EventType.BUDGET_THRESHOLD:
            # About the tenant's budget, not a job: its scope, percent, spending and month.
            return dict(event.detail)
        statuses = self.services.job_use_cases.status
        versioned = self.services.jobs.manifests.read_manifest(event.job_id)
        if versioned is None or versioned.manifest.tenant != event.tenant:
            log.warning("event %s names no job of its tenant", event.id)
            return None
        if event.type is EventType.JOB_COMPLETED:
            # PyAV loads only here: not on the API's cold start, which imports this module.
            from renderfarm_azure.previews import build_previews  # noqa: PLC0415

            container = self.services.blob_service.get_container_client(
                self.services.settings.jobs_container
            )
            build_previews(container, versioned.manifest)
        elif event.type is EventType.JOB_QUOTED:
            self.services.job_use_cases.approval.send_approved_rest(versioned.manifest)
        try:
            manifest, status = statuses.status(event.job_id, tenant=event.tenant)
        except JobNotFound:
            return None
        # The status the API answers, less what a webhook need not carry.
        from functions.job_status import status_public  # noqa: PLC0415 (kept lazy, as it was)

        public = status_public(self.services.frame_links, manifest, status, 0, 0)
        summary: dict[str, Any] = public.model_dump(mode="json", exclude=SUMMARY_EXCLUDES)
        if event.detail:
            summary["event"] = dict(event.detail)
        return summary


@lru_cache(maxsize=1)
def consumer() -> EventConsumer:
    """One set of clients per process, reused across invocations."""
    settings = get_settings()
    services = Services.from_settings(settings)
    return EventConsumer(
        services=services,
        webhooks=webhook_services(
            settings, blob_service=services.blob_service, servicebus=services.servicebus
        ),
    )


def handle_event_message(message: func.ServiceBusMessage) -> None:
    """The Function's body. Raising leaves the message to the host's retries, and to
    dead-lettering after MaxDeliveryCount: a body that is not an event ends there too."""
    queued = consumer().handle(message.get_body())
    log.info("event %s: %d webhook deliveries queued", message.message_id, queued)


def serve(worker: EventConsumer, *, stop: threading.Event, wait_s: float = 2.0) -> int:
    """The local farm's loop (renderfarm_azure.queue_consumer): an event that is not one is
    dead-lettered, one that failed is abandoned for a retry."""

    def handle(message: ServiceBusReceivedMessage) -> Settlement:
        worker.handle(b"".join(message.body))
        return COMPLETE

    settings = worker.services.settings
    with worker.services.servicebus.get_queue_receiver(settings.events_queue) as receiver:
        return queue_consumer.run(
            receiver, handle, stop=stop, options=ConsumerOptions(wait_s=wait_s)
        )


def main() -> int:
    """``python -m functions.events``: the Function's logic as a process."""
    worker = consumer()
    worker.services.ensure_containers()
    return queue_consumer.serve_forever([lambda stop: serve(worker, stop=stop)])


if __name__ == "__main__":
    raise SystemExit(main())
