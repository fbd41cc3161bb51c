"""The Service Bus queues in Bicep are the emulator's queues (config.json), with the same
properties: three chunk queues per Blender pool, one per priority band, for whatever list of
Blender versions the farm runs (and three more per pool for GPU workers when deployGpuWorkers),
plus the job-events and webhook-deliveries queues."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import isodate
import pytest

from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import farm_queues
from renderfarm.shared.settings import Settings
from tests.infra.bicep_files import (
    MAIN_BICEP,
    REPO_ROOT,
    blender_pools,
    load_json,
    loop_source,
    module,
    parse,
    resource,
    unwrap,
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


def pool_queue_names(*, gpu: bool = False) -> list[str]:
    """The chunk queues main.bicep makes: its pools' band queues, interpolated as Bicep does."""
    main = parse(MAIN_BICEP)
    prefix = variable(main, "queuePrefix")
    names = []
    for pools in ("cpuPools", "gpuPools") if gpu else ("cpuPools",):
        templates = unwrap(variable(main, pools))["queueNames"]
        for version in bicep_versions():
            names += [
                t.replace("${queuePrefix}", prefix).replace("${version}", version)
                for t in templates
            ]
    return names


#: The queues beside the pool queues: each is named by a main.bicep variable, made by the
#: servicebus.bicep resource of the same name, and defaults to this Settings field in the code.
MESSAGE_QUEUES = {
    "eventsQueue": "events_queue",
    "webhookDeliveriesQueue": "webhook_deliveries_queue",
}


def message_queue_names() -> dict[str, str]:
    """Queue name -> the main.bicep variable and servicebus.bicep resource that make it."""
    main = parse(MAIN_BICEP)
    return {variable(main, name): name for name in MESSAGE_QUEUES}


def emulator_queues() -> dict[str, dict[str, Any]]:
    config = load_json(EMULATOR_CONFIG)
    (namespace,) = config["UserConfig"]["Namespaces"]
    return {queue["Name"]: queue["Properties"] for queue in namespace["Queues"]}


def bicep_queue(queue: str | None = None) -> dict[str, Any]:
    """The properties Bicep gives ``queue``: every pool queue gets those of one resource loop over
    the pool queue names; the events and deliveries queues have a resource each."""
    name = message_queue_names().get(queue, "queues") if queue else "queues"
    properties = resource(module("servicebus"), name)["properties"]
    assert isinstance(properties, dict)
    return properties


def all_queue_names() -> list[str]:
    return pool_queue_names() + sorted(message_queue_names())


def camel(pascal: str) -> str:
    return pascal[0].lower() + pascal[1:]


def duration(text: str) -> timedelta:
    parsed = isodate.parse_duration(text)
    assert isinstance(parsed, timedelta), f"{text} has months or years: not a fixed duration"
    return parsed


def test_bicep_default_versions_are_the_pool_files() -> None:
    assert sorted(bicep_versions()) == sorted(blender_pools())
    assert len(set(bicep_versions())) == len(bicep_versions())


def test_emulator_serves_exactly_the_pool_queues_and_the_message_queues() -> None:
    assert sorted(emulator_queues()) == sorted(all_queue_names())


def test_message_queues_are_named_as_the_code_names_them() -> None:
    assert sorted(message_queue_names()) == ["job-events", "webhook-deliveries"]
    main = parse(MAIN_BICEP)
    for name, field in MESSAGE_QUEUES.items():
        assert variable(main, name) == Settings.model_fields[field].default


def test_each_message_queue_is_made_from_its_module_parameter() -> None:
    params = parse(MAIN_BICEP)["modules"]["serviceBus"]["config"]["params"]
    assert params["eventsQueueName"] == "eventsQueue"
    assert params["webhookDeliveriesQueueName"] == "webhookDeliveriesQueue"
    doc = module("servicebus")
    assert resource(doc, "eventsQueue")["name"] == "eventsQueueName"
    assert resource(doc, "webhookDeliveriesQueue")["name"] == "webhookDeliveriesQueueName"


def test_bicep_makes_one_queue_per_pool_from_the_pool_list() -> None:
    main = parse(MAIN_BICEP)
    assert main["modules"]["serviceBus"]["config"]["params"]["queueNames"] == "poolQueueNames"
    flatten = variable(main, "poolQueueNames")["function"]
    assert flatten["type"] == "flatten"
    assert flatten["parameters"] == {"array_to_flattern": "poolQueueLists"}
    lists = variable(main, "poolQueueLists")
    assert lists["loop_type"]["detail"] == {"item_name": "pool", "array_name": "pools"}
    assert loop_source(module("servicebus"), "queues") == "queueNames"


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu-only", "with-gpu-workers"])
def test_bicep_queues_are_the_code_s_queues_with_gpu_workers_off_and_on(gpu: bool) -> None:
    prefix = variable(parse(MAIN_BICEP), "queuePrefix")
    versions = [BlenderVersion.parse(v) for v in bicep_versions()]
    assert sorted(pool_queue_names(gpu=gpu)) == sorted(farm_queues(prefix, versions, gpu=gpu))
    assert len(pool_queue_names(gpu=gpu)) == len(versions) * (6 if gpu else 3)


def test_gpu_queues_only_with_the_gpu_option_and_off_by_default() -> None:
    main = parse(MAIN_BICEP)
    assert main["parameters"]["deployGpuWorkers"]["default"] is False
    cpu, gpu = set(pool_queue_names()), set(pool_queue_names(gpu=True)) - set(pool_queue_names())
    assert cpu and gpu and all("-gpu" in name for name in gpu)
    assert not any("-gpu" in name for name in emulator_queues()), "the local farm has no GPU"


@pytest.mark.parametrize("queue", all_queue_names())
@pytest.mark.parametrize("name", DURATIONS)
def test_queue_duration_matches_the_emulator(queue: str, name: str) -> None:
    assert duration(bicep_queue(queue)[camel(name)]) == duration(emulator_queues()[queue][name])


@pytest.mark.parametrize("queue", all_queue_names())
@pytest.mark.parametrize("name", VALUES)
def test_queue_property_matches_the_emulator(queue: str, name: str) -> None:
    assert bicep_queue(queue)[camel(name)] == emulator_queues()[queue][name]


@pytest.mark.parametrize("queue", all_queue_names())
def test_lock_duration_is_within_service_bus_limits(queue: str) -> None:
    lock = duration(bicep_queue(queue)["lockDuration"])
    assert timedelta(seconds=5) <= lock <= timedelta(minutes=5)


@pytest.mark.parametrize("queue", all_queue_names())
def test_every_queue_deduplicates_and_no_queue_is_partitioned(queue: str) -> None:
    """Events and deliveries are deduplicated by their deterministic message-id; the emulator
    has no partitions, so Azure has none either."""
    properties = bicep_queue(queue)
    assert properties["requiresDuplicateDetection"] is True
    assert properties["enablePartitioning"] is False
    assert duration(properties["duplicateDetectionHistoryTimeWindow"]) == timedelta(minutes=10)


@pytest.mark.parametrize("queue", ["job-events", "webhook-deliveries"])
def test_message_queues_take_ten_deliveries(queue: str) -> None:
    assert bicep_queue(queue)["maxDeliveryCount"] == 10


def test_queue_prefix_is_the_one_the_code_uses() -> None:
    assert (
        variable(parse(MAIN_BICEP), "queuePrefix") == Settings.model_fields["queue_prefix"].default
    )
