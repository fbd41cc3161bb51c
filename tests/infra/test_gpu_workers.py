"""The GPU option (deployGpuWorkers, off by default): a serverless GPU workload profile, a GPU
worker app per Blender version on it with its own three queues and KEDA rules, and the API told
that GPU jobs are welcome. Off, none of it exists; the infra tests run both ways."""

from __future__ import annotations

import pytest

from tests.infra.bicep_files import MAIN_BICEP, module, parse, resource, unwrap, variable
from tests.infra.test_queue_properties import pool_queue_names

GPU_PROFILES = ["Consumption-GPU-NC8as-T4", "Consumption-GPU-NC24-A100"]


def test_the_option_is_off_by_default_and_names_the_serverless_gpu_profiles() -> None:
    params = parse(MAIN_BICEP)["parameters"]
    assert params["deployGpuWorkers"]["default"] is False
    assert params["gpuWorkloadProfileType"]["default"] in GPU_PROFILES
    decorators = params["gpuWorkloadProfileType"]["decorators"]
    (allowed,) = [d for d in decorators if d["type"] == "allowed"]
    assert sorted(value.strip("'") for value in allowed["argument"]) == sorted(GPU_PROFILES)


def test_the_workers_module_gets_a_profile_type_only_when_the_option_is_on() -> None:
    params = parse(MAIN_BICEP)["modules"]["workers"]["config"]["params"]
    operands = params["gpuWorkloadProfileType"]["operator"]["operands"]
    assert operands == {
        "condition": "deployGpuWorkers",
        "true_value": "gpuWorkloadProfileType",
        "false_value": "",
    }
    api = parse(MAIN_BICEP)["modules"]["api"]["config"]["params"]
    assert api["gpuWorkers"] == "deployGpuWorkers"


def test_the_environment_adds_the_gpu_profile_only_when_given_one() -> None:
    doc = module("containerapps")
    profiles = resource(doc, "environment")["properties"]["workloadProfiles"]["function"]
    assert profiles["type"] == "concat"
    assert profiles["parameters"]["arg_1"] == [
        {"name": "Consumption", "workloadProfileType": "Consumption"}
    ]
    assert profiles["parameters"]["arg_2"] == "gpuProfiles"
    gpu = variable(doc, "gpuProfiles")["operator"]["operands"]
    assert gpu["true_value"] == []
    assert gpu["false_value"] == [
        {"name": "gpuProfileName", "workloadProfileType": "gpuWorkloadProfileType"}
    ]


def test_every_serverless_gpu_profile_has_its_replica_size() -> None:
    sizes = variable(module("containerapps"), "gpuReplicaResources")
    assert sorted(key.strip("'") for key in sizes) == sorted(GPU_PROFILES)


@pytest.mark.parametrize("name", ["workerApps", "workerJobs"])
def test_gpu_pools_run_on_the_gpu_profile_and_cpu_pools_on_consumption(name: str) -> None:
    text = str(resource(module("containerapps"), name)["properties"]["workloadProfileName"])
    assert "gpuProfileName" in text and "'Consumption'" in text and "'GPU'" in text


def test_a_gpu_pool_serves_its_own_queues_and_says_it_renders_on_the_gpu() -> None:
    gpu_pool = unwrap(variable(parse(MAIN_BICEP), "gpuPools"))
    assert gpu_pool["device"] == "GPU"
    gpu_queues = set(pool_queue_names(gpu=True)) - set(pool_queue_names())
    assert gpu_queues and all("-gpu" in queue for queue in gpu_queues)
    assert not set(pool_queue_names()) & gpu_queues, "CPU workers never see GPU work"
    names = unwrap(variable(module("containerapps"), "workerNames"))
    assert "gpu-" in names, "a GPU pool's app is named apart from its CPU pool's"
