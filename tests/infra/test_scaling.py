"""KEDA's parameters: infra/scaling.json (which the local autoscaler reads too), main.bicep's
defaults and main.parameters.json agree, and the modules wire them into the scale rules: one
worker and one rule per Blender pool, each on its own queue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep_files import (
    INFRA,
    MAIN_BICEP,
    load_json,
    loop_source,
    module,
    parse,
    resource,
    unwrap,
    variable,
)

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


def pool_entry(variable_name: str) -> dict[str, object]:
    """`variable_name[i]`: the pool's own entry of a per-pool variable in a looped worker."""
    return {
        "operator": {
            "type": "index_accessor",
            "operands": {"operand_1": variable_name, "operand_2": "i"},
        }
    }


def band_entry(variable_name: str, band: int) -> dict[str, object]:
    """`variable_name[i][band]`: one band's entry of the pool's own entry."""
    return {
        "operator": {
            "type": "index_accessor",
            "operands": {"operand_1": pool_entry(variable_name), "operand_2": band},
        }
    }


BANDS = ("high", "normal", "low")


def chooses_by_device(value: Any, *, gpu: str, cpu: str) -> bool:
    """`pool.device == 'GPU' ? gpu : cpu` (as pycep nests it: the conditional innermost)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            operator = node.get("operator")
            if isinstance(operator, dict) and operator.get("type") == "conditional":
                found.append(operator["operands"])
            for child in node.values():
                walk(child)

    walk(value)
    text = str(value)
    return (
        "'device'" in text
        and "'GPU'" in text
        and any((o["true_value"], o["false_value"]) == (gpu, cpu) for o in found)
    )


@pytest.mark.parametrize("name", ["workerApps", "workerJobs"])
def test_there_is_one_worker_per_pool(name: str) -> None:
    doc = module("containerapps")
    assert loop_source(doc, name) == "pools"
    assert resource(doc, name)["name"] == pool_entry("workerNames")
    names = unwrap(variable(doc, "workerNames"))
    assert "${replace(pool.blenderVersion, '.', '-')}" in names, "app names allow no '.'"


def test_container_app_scale_rule_uses_the_parameters_and_the_scaler_identity() -> None:
    doc = module("containerapps")
    scale = resource(doc, "workerApps")["properties"]["template"]["scale"]
    for field in ("minReplicas", "pollingInterval", "cooldownPeriod"):
        assert scale[field] == field
    assert chooses_by_device(scale["maxReplicas"], gpu="gpuMaxReplicas", cpu="maxReplicas")
    # One rule per priority band's queue: the HPA runs the most replicas any of them asks for.
    assert len(scale["rules"]) == len(BANDS)
    for band, rule in enumerate(scale["rules"]):
        assert rule["name"] == f"queue-depth-${{bandNames[{band}]}}"
        assert rule["custom"]["type"] == "azure-servicebus"
        assert rule["custom"]["metadata"] == band_entry("queueDepthMetadata", band)
        assert rule["custom"]["identity"] == "scalerIdentityId"
        assert "auth" not in rule["custom"], "KEDA authenticates by managed identity, not a secret"
    assert variable(doc, "bandNames") == list(BANDS)


def test_job_mode_scale_rule_uses_the_same_parameters() -> None:
    doc = module("containerapps")
    trigger = resource(doc, "workerJobs")["properties"]["configuration"]["eventTriggerConfig"]
    assert trigger["parallelism"] == 1
    assert trigger["scale"]["minExecutions"] == "minReplicas"
    assert chooses_by_device(
        trigger["scale"]["maxExecutions"], gpu="gpuMaxReplicas", cpu="maxReplicas"
    )
    assert trigger["scale"]["pollingInterval"] == "pollingInterval"
    assert len(trigger["scale"]["rules"]) == len(BANDS)
    for band, rule in enumerate(trigger["scale"]["rules"]):
        assert (rule["type"], rule["metadata"], rule["identity"]) == (
            "azure-servicebus",
            band_entry("queueDepthMetadata", band),
            "scalerIdentityId",
        )


def test_queue_depth_metadata_reads_each_pool_queue_and_passes_counts_as_strings() -> None:
    doc = module("containerapps")
    per_pool = variable(doc, "queueDepthMetadata")
    assert per_pool["loop_type"]["detail"] == {"item_name": "pool", "array_name": "pools"}
    counts = variable(doc, "depthCounts")
    for field in ("messageCount", "activationMessageCount"):
        call = counts[field]["function"]
        assert (call["type"], call["parameters"]["value_to_convert"]) == ("string", field)
    assert counts["namespace"] == "serviceBusNamespaceName"
    for band, metadata in enumerate(unwrap(per_pool)):
        call = metadata["function"]
        assert (call["type"], call["parameters"]["arg_1"]) == ("union", "depthCounts")
        queue = call["parameters"]["arg_2"]["queueName"]["operator"]["operands"]
        assert queue == {
            "operand_1": "pool",
            "operand_2": {
                "operator": {
                    "type": "index_accessor",
                    "operands": {"operand_1": "queueNames", "operand_2": band},
                }
            },
        }
