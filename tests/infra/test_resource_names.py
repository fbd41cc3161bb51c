"""The apps are given the names of the queues and containers from the same main.bicep variables
that name those resources, and those names are the code's defaults (the local farm runs on them):
the pools' queues as renderfarm.shared.blender_pools names them, the events and webhook queues the
triggers read."""

from __future__ import annotations

import pytest

from functions.events import events_queue
from functions.webhook_trigger import deliveries_queue
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import pool_queues
from renderfarm.shared.settings import Settings
from tests.infra.app_settings_bicep import api_settings
from tests.infra.bicep_files import MAIN_BICEP, module, parse, unwrap, variable


def test_each_pool_queue_is_named_as_the_code_names_it() -> None:
    main = parse(MAIN_BICEP)
    prefix = variable(main, "queuePrefix")
    assert prefix == Settings.model_fields["queue_prefix"].default
    for name, device, gpu in (("cpuPools", "CPU", False), ("gpuPools", "GPU", True)):
        pools = unwrap(variable(main, name))
        assert (pools["blenderVersion"], pools["device"]) == ("version", device)
        for version in main["parameters"]["blenderVersions"]["default"]:
            # What the Bicep interpolates is what renderfarm.shared.blender_pools.pool_queues
            # returns.
            interpolated = [
                text.replace("${queuePrefix}", prefix).replace("${version}", version)
                for text in pools["queueNames"]
            ]
            assert tuple(interpolated) == pool_queues(
                prefix, BlenderVersion.parse(version), gpu=gpu
            )


def test_function_app_is_told_the_pools_it_routes_among() -> None:
    settings = api_settings()
    assert settings["RENDERFARM_QUEUE_PREFIX"] == "queuePrefix"
    versions = settings["RENDERFARM_BLENDER_VERSIONS"]["function"]
    assert versions == {
        "type": "join",
        "parameters": {"input_array": "blenderVersions", "delimiter": ","},
    }
    params = parse(MAIN_BICEP)["modules"]["api"]["config"]["params"]
    assert (params["queuePrefix"], params["blenderVersions"]) == ("queuePrefix", "blenderVersions")
    joined = ",".join(parse(MAIN_BICEP)["parameters"]["blenderVersions"]["default"])
    assert Settings(
        storage_account_url="https://x", servicebus_namespace="x", blender_versions=joined
    ).blender_pools(), "the Bicep's default list is one the code parses"


#: Setting -> (the Settings field, the main.bicep variable that also names the resource).
RESOURCE_NAMES = {
    "RENDERFARM_SCENES_CONTAINER": ("scenes_container", "scenesContainer"),
    "RENDERFARM_JOBS_CONTAINER": ("jobs_container", "jobsContainer"),
    "RENDERFARM_WEBHOOKS_CONTAINER": ("webhooks_container", "webhooksContainer"),
    "RENDERFARM_EVENTS_QUEUE": ("events_queue", "eventsQueue"),
    "RENDERFARM_WEBHOOK_DELIVERIES_QUEUE": ("webhook_deliveries_queue", "webhookDeliveriesQueue"),
}


@pytest.mark.parametrize("setting", sorted(RESOURCE_NAMES))
def test_resource_names_are_the_code_defaults(setting: str) -> None:
    """Azure and the local farm (which runs on the defaults) use the same names."""
    field, name = RESOURCE_NAMES[setting]
    assert variable(parse(MAIN_BICEP), name) == Settings.model_fields[field].default


@pytest.mark.parametrize("setting", sorted(RESOURCE_NAMES))
def test_the_api_is_given_each_resource_name_from_the_variable_that_names_the_resource(
    setting: str,
) -> None:
    _, name = RESOURCE_NAMES[setting]
    assert api_settings()[setting] == name, "functionapp.bicep sets it from its parameter"
    params = parse(MAIN_BICEP)["modules"]["api"]["config"]["params"]
    assert params[name] == name


def test_the_resources_are_named_from_the_same_variables() -> None:
    modules = parse(MAIN_BICEP)["modules"]
    storage = modules["storage"]["config"]["params"]
    for container in ("scenesContainer", "jobsContainer", "webhooksContainer"):
        assert storage[container] == container
    service_bus = modules["serviceBus"]["config"]["params"]
    assert service_bus["eventsQueueName"] == "eventsQueue"
    assert service_bus["webhookDeliveriesQueueName"] == "webhookDeliveriesQueue"
    assert modules["workers"]["config"]["params"]["eventsQueue"] == "eventsQueue"


def test_workers_publish_to_the_events_queue_the_function_app_consumes() -> None:
    worker = variable(module("containerapps"), "workerSettings")
    assert worker["RENDERFARM_EVENTS_QUEUE"] == "eventsQueue"
    assert api_settings()["RENDERFARM_EVENTS_QUEUE"] == "eventsQueue"


def test_function_app_triggers_read_the_queue_names_it_is_given() -> None:
    """function_app.py names its triggers' queues from these settings when the host indexes it."""
    given = {"RENDERFARM_EVENTS_QUEUE": "a", "RENDERFARM_WEBHOOK_DELIVERIES_QUEUE": "b"}
    assert (events_queue(given), deliveries_queue(given)) == ("a", "b")
    assert set(given) <= set(api_settings())
