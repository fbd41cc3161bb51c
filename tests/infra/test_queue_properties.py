"""The Service Bus queues in Bicep are the emulator's queues (config.json), one per Blender pool,
with the same properties, for whatever list of Blender versions the farm runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import isodate
import pytest

from renderfarm.settings import Settings
from tests.infra.bicep_files import (
    MAIN_BICEP,
    REPO_ROOT,
    blender_pools,
    load_json,
    loop_source,
    module,
    parse,
    resource,
    variable,
)

EMULATOR_CONFIG = REPO_ROOT / "emulators" / "servicebus" / "config.json"

DURATIONS = ("LockDuration", "DefaultMessageTimeToLive", "DuplicateDetectionHistoryTimeWindow")
VALUES = (
    "MaxDeliveryCount",
    "DeadLetteringOnMessageExpiration",
    "RequiresDuplicateDetection",
    "RequiresSession",
)


def bicep_versions() -> list[str]:
    versions = parse(MAIN_BICEP)["parameters"]["blenderVersions"]["default"]
    assert isinstance(versions, list)
    return [str(v) for v in versions]


def pool_queue_names() -> list[str]:
    prefix = variable(parse(MAIN_BICEP), "queuePrefix")
    return [f"{prefix}-{version}" for version in bicep_versions()]


def emulator_queues() -> dict[str, dict[str, Any]]:
    config = load_json(EMULATOR_CONFIG)
    (namespace,) = config["UserConfig"]["Namespaces"]
    return {queue["Name"]: queue["Properties"] for queue in namespace["Queues"]}


def bicep_queue() -> dict[str, Any]:
    """The properties every pool queue gets (one resource loop over the pool queue names)."""
    properties = resource(module("servicebus"), "queues")["properties"]
    assert isinstance(properties, dict)
    return properties


def camel(pascal: str) -> str:
    return pascal[0].lower() + pascal[1:]


def duration(text: str) -> timedelta:
    parsed = isodate.parse_duration(text)
    assert isinstance(parsed, timedelta), f"{text} has months or years: not a fixed duration"
    return parsed


def test_bicep_default_versions_are_the_pool_files() -> None:
    assert sorted(bicep_versions()) == sorted(blender_pools())
    assert len(set(bicep_versions())) == len(bicep_versions())


def test_emulator_serves_exactly_the_pool_queues() -> None:
    assert sorted(emulator_queues()) == sorted(pool_queue_names())


def test_bicep_makes_one_queue_per_pool_from_the_pool_list() -> None:
    main = parse(MAIN_BICEP)
    assert main["modules"]["serviceBus"]["config"]["params"]["queueNames"] == "poolQueueNames"
    assert loop_source(module("servicebus"), "queues") == "queueNames"


@pytest.mark.parametrize("queue", pool_queue_names())
@pytest.mark.parametrize("name", DURATIONS)
def test_queue_duration_matches_the_emulator(queue: str, name: str) -> None:
    assert duration(bicep_queue()[camel(name)]) == duration(emulator_queues()[queue][name])


@pytest.mark.parametrize("queue", pool_queue_names())
@pytest.mark.parametrize("name", VALUES)
def test_queue_property_matches_the_emulator(queue: str, name: str) -> None:
    assert bicep_queue()[camel(name)] == emulator_queues()[queue][name]


def test_lock_duration_is_within_service_bus_limits() -> None:
    assert timedelta(seconds=5) <= duration(bicep_queue()["lockDuration"]) <= timedelta(minutes=5)


def test_queue_prefix_is_the_one_the_code_uses() -> None:
    assert (
        variable(parse(MAIN_BICEP), "queuePrefix") == Settings.model_fields["queue_prefix"].default
    )
