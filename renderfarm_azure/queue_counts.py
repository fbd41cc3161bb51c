"""The QueueMonitor port: queue counts through Service Bus's administration API in Azure, or
through the local emulator's management endpoint (the administration client speaks HTTPS only,
and the emulator serves its counts as JSON over plain HTTP on loopback)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from functools import partial

from azure.core.exceptions import ResourceNotFoundError
from azure.servicebus.management import ServiceBusAdministrationClient

from renderfarm.jobs.ports import QueueCounts
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.settings import Settings, is_loopback_url
from renderfarm_azure import clients
from renderfarm_azure.guard import guarded

EMULATOR_TIMEOUT_S = 3.0


class AdminQueueMonitor:
    """Runtime properties from the administration API (the identity needs Manage rights)."""

    def __init__(self, *, client: ServiceBusAdministrationClient, breaker: CircuitBreaker):
        self._client = client
        self._breaker = breaker

    def counts(self, queues: Sequence[str]) -> tuple[QueueCounts, ...]:
        found: list[QueueCounts] = []
        for queue in queues:
            counts = guarded(self._breaker, partial(self._one, queue))
            if counts is not None:
                found.append(counts)
        return tuple(found)

    def _one(self, queue: str) -> QueueCounts | None:
        try:
            properties = self._client.get_queue_runtime_properties(queue)
        except ResourceNotFoundError:
            return None
        return QueueCounts(
            queue=queue,
            active=properties.active_message_count or 0,
            scheduled=properties.scheduled_message_count or 0,
            dead_lettered=properties.dead_letter_message_count or 0,
        )


class EmulatorQueueMonitor:
    """Counts from the Service Bus emulator's ``GET /queues`` (emulators/servicebus/http_api)."""

    def __init__(self, *, management_url: str):
        if not is_loopback_url(management_url):
            raise ValueError("the emulator's management endpoint is read on loopback only")
        self._url = management_url.rstrip("/") + "/queues"

    def counts(self, queues: Sequence[str]) -> tuple[QueueCounts, ...]:
        try:
            # loopback only, checked above
            with urllib.request.urlopen(self._url, timeout=EMULATOR_TIMEOUT_S) as response:  # noqa: S310
                snapshot = json.load(response)["queues"]
        except (OSError, ValueError, KeyError) as error:
            raise DependencyUnavailable("service bus", 5, str(error)) from error
        by_name = {str(name).lower(): value for name, value in snapshot.items()}
        found = []
        for queue in queues:
            counts = by_name.get(queue.lower())
            if counts is None:
                continue
            found.append(
                QueueCounts(
                    queue=queue,
                    active=int(counts.get("active_message_count", 0)),
                    scheduled=int(counts.get("scheduled_message_count", 0)),
                    dead_lettered=int(counts.get("dead_letter_message_count", 0)),
                )
            )
        return tuple(found)


def queue_monitor(
    settings: Settings, breaker: CircuitBreaker
) -> AdminQueueMonitor | EmulatorQueueMonitor:
    """The emulator's endpoint where the settings name one (the local farm), else the API."""
    if settings.servicebus_management_url:
        return EmulatorQueueMonitor(management_url=settings.servicebus_management_url)
    if settings.servicebus_connection_string:
        client = ServiceBusAdministrationClient.from_connection_string(
            settings.servicebus_connection_string
        )
    else:
        assert settings.servicebus_namespace is not None
        client = ServiceBusAdministrationClient(
            settings.servicebus_namespace, clients.credential(settings)
        )
    return AdminQueueMonitor(client=client, breaker=breaker)
