"""The Service Bus queue in Bicep has the properties of the emulator's queue (config.json)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import isodate
import pytest

from renderfarm.settings import Settings
from tests.infra.bicep_files import (
    MAIN_BICEP,
    REPO_ROOT,
    load_json,
    module,
    parse,
    resource,
    variable,
)

EMULATOR_CONFIG = REPO_ROOT / "emulators" / "servicebus" / "config.json"
QUEUE = "render-chunks"

DURATIONS = ("LockDuration", "DefaultMessageTimeToLive", "DuplicateDetectionHistoryTimeWindow")
VALUES = (
    "MaxDeliveryCount",
    "DeadLetteringOnMessageExpiration",
    "RequiresDuplicateDetection",
    "RequiresSession",
)


def emulator_queue() -> dict[str, Any]:
    config = load_json(EMULATOR_CONFIG)
    for namespace in config["UserConfig"]["Namespaces"]:
        for queue in namespace["Queues"]:
            if queue["Name"] == QUEUE:
                properties = queue["Properties"]
                assert isinstance(properties, dict)
                return properties
    raise AssertionError(f"{EMULATOR_CONFIG} has no queue {QUEUE}")


def bicep_queue() -> dict[str, Any]:
    properties = resource(module("servicebus"), "queue")["properties"]
    assert isinstance(properties, dict)
    return properties


def camel(pascal: str) -> str:
    return pascal[0].lower() + pascal[1:]


def duration(text: str) -> timedelta:
    parsed = isodate.parse_duration(text)
    assert isinstance(parsed, timedelta), f"{text} has months or years: not a fixed duration"
    return parsed


@pytest.mark.parametrize("name", DURATIONS)
def test_queue_duration_matches_the_emulator(name: str) -> None:
    assert duration(bicep_queue()[camel(name)]) == duration(emulator_queue()[name])


@pytest.mark.parametrize("name", VALUES)
def test_queue_property_matches_the_emulator(name: str) -> None:
    assert bicep_queue()[camel(name)] == emulator_queue()[name]


def test_lock_duration_is_within_service_bus_limits() -> None:
    assert timedelta(seconds=5) <= duration(bicep_queue()["lockDuration"]) <= timedelta(minutes=5)


def test_queue_name_is_the_one_the_code_and_the_emulator_use() -> None:
    assert variable(parse(MAIN_BICEP), "queueName") == QUEUE
    assert Settings.model_fields["queue_name"].default == QUEUE
