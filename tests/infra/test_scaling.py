"""KEDA's parameters: infra/scaling.json (which the local autoscaler reads too), main.bicep's
defaults and main.parameters.json agree, and the modules wire them into the scale rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep_files import INFRA, MAIN_BICEP, load_json, module, parse, resource, variable

#: scaling.json key -> main.bicep parameter -> containerapps.bicep parameter.
SCALING_PARAMETERS = {
    "minReplicas": ("workerMinReplicas", "minReplicas"),
    "maxReplicas": ("workerMaxReplicas", "maxReplicas"),
    "messageCount": ("workerMessageCount", "messageCount"),
    "activationMessageCount": ("workerActivationMessageCount", "activationMessageCount"),
    "pollingInterval": ("workerPollingInterval", "pollingInterval"),
    "cooldownPeriod": ("workerCooldownPeriod", "cooldownPeriod"),
}


def scaling() -> dict[str, Any]:
    data = load_json(INFRA / "scaling.json")
    assert isinstance(data, dict)
    return data


def test_scaling_json_holds_exactly_the_keda_parameters() -> None:
    assert set(scaling()) == set(SCALING_PARAMETERS)


def test_workers_scale_to_zero_and_take_one_message_each() -> None:
    # Each worker renders one chunk at a time for minutes: a second message would wait.
    assert scaling()["minReplicas"] == 0
    assert scaling()["messageCount"] == 1
    assert scaling()["maxReplicas"] >= 1


@pytest.mark.parametrize("key", sorted(SCALING_PARAMETERS))
def test_main_bicep_default_equals_scaling_json(key: str) -> None:
    main_param, _ = SCALING_PARAMETERS[key]
    assert parse(MAIN_BICEP)["parameters"][main_param]["default"] == scaling()[key]


@pytest.mark.parametrize("key", sorted(SCALING_PARAMETERS))
def test_parameters_file_equals_scaling_json(key: str) -> None:
    main_param, _ = SCALING_PARAMETERS[key]
    parameters = load_json(INFRA / "main.parameters.json")["parameters"]
    assert parameters[main_param]["value"] == scaling()[key]


@pytest.mark.parametrize("key", sorted(SCALING_PARAMETERS))
def test_main_passes_each_parameter_to_the_worker_module(key: str) -> None:
    main_param, module_param = SCALING_PARAMETERS[key]
    params = parse(MAIN_BICEP)["modules"]["workers"]["config"]["params"]
    assert params[module_param] == main_param


def test_container_app_scale_rule_uses_the_parameters_and_the_scaler_identity() -> None:
    doc = module("containerapps")
    scale = resource(doc, "workerApp")["properties"]["template"]["scale"]
    for field in ("minReplicas", "maxReplicas", "pollingInterval", "cooldownPeriod"):
        assert scale[field] == field
    (rule,) = scale["rules"]
    assert rule["custom"]["type"] == "azure-servicebus"
    assert rule["custom"]["metadata"] == "queueDepthMetadata"
    assert rule["custom"]["identity"] == "scalerIdentityId"
    assert "auth" not in rule["custom"], "KEDA authenticates by managed identity, not a secret"


def test_job_mode_scale_rule_uses_the_same_parameters() -> None:
    doc = module("containerapps")
    trigger = resource(doc, "workerJob")["properties"]["configuration"]["eventTriggerConfig"]
    assert trigger["parallelism"] == 1
    assert trigger["scale"]["minExecutions"] == "minReplicas"
    assert trigger["scale"]["maxExecutions"] == "maxReplicas"
    assert trigger["scale"]["pollingInterval"] == "pollingInterval"
    (rule,) = trigger["scale"]["rules"]
    assert (rule["type"], rule["metadata"], rule["identity"]) == (
        "azure-servicebus",
        "queueDepthMetadata",
        "scalerIdentityId",
    )


def test_queue_depth_metadata_passes_message_counts_as_strings() -> None:
    metadata = variable(module("containerapps"), "queueDepthMetadata")
    for field in ("messageCount", "activationMessageCount"):
        call = metadata[field]["function"]
        assert (call["type"], call["parameters"]["value_to_convert"]) == ("string", field)
    assert metadata["queueName"] == "queueName"
    assert metadata["namespace"] == "serviceBusNamespaceName"
