"""One emulator for the emulator's tests, with a queue per behaviour so tests never share state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient

from testbed.emulators import ServiceBusEmulator, run_servicebus, write_config

BASE: dict[str, Any] = {"LockDuration": "PT30S", "MaxDeliveryCount": 10}

QUEUES: dict[str, dict[str, Any]] = {
    "properties": BASE,
    "properties-aio": BASE,
    "batch": BASE,
    "receive-delete": BASE,
    "complete": BASE,
    "abandon": BASE,
    "abandon-aio": BASE,
    "defer": BASE,
    "dead-letter": BASE,
    "dead-letter-aio": BASE,
    "lock-expiry": {"LockDuration": "PT1S", "MaxDeliveryCount": 10},
    "renew": {"LockDuration": "PT2S", "MaxDeliveryCount": 10},
    "renew-aio": {"LockDuration": "PT2S", "MaxDeliveryCount": 10},
    "max-delivery": {"LockDuration": "PT30S", "MaxDeliveryCount": 3},
    "max-delivery-expiry": {"LockDuration": "PT1S", "MaxDeliveryCount": 2},
    "ttl-dead-letter": {**BASE, "DeadLetteringOnMessageExpiration": True},
    "ttl-drop": {**BASE, "DeadLetteringOnMessageExpiration": False},
    "ttl-queue-default": {
        **BASE,
        "DefaultMessageTimeToLive": "PT1S",
        "DeadLetteringOnMessageExpiration": True,
    },
    "scheduled": BASE,
    "scheduled-cancel": BASE,
    "scheduled-annotation": BASE,
    "peek": BASE,
    "dedupe": {
        **BASE,
        "RequiresDuplicateDetection": True,
        "DuplicateDetectionHistoryTimeWindow": "PT10M",
    },
    "no-dedupe": BASE,
    "large": BASE,
    "counts": BASE,
    "competing": BASE,
    "sturdy": BASE,
    "batch-aio": BASE,
    "defer-aio": BASE,
    "peek-aio": BASE,
    "scheduled-aio": BASE,
    "receive-delete-aio": BASE,
    "sturdy-lock": {"LockDuration": "PT1S", "MaxDeliveryCount": 10},
}


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceBusEmulator]:
    folder = tmp_path_factory.mktemp("sb-emulator-tests")
    config = write_config(folder / "config.json", QUEUES)
    with run_servicebus(folder / "data", config) as service:
        yield service


@pytest.fixture
def client(emulator: ServiceBusEmulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(emulator.connection_string) as sb:
        yield sb
