"""Where the Bicep declares each app's settings: the Function App's renderfarm and host settings,
and the workers' settings with the env each pool's container adds."""

from __future__ import annotations

from typing import Any

from tests.infra.bicep_files import module, unwrap, variable


def object_keys(value: Any) -> set[str]:
    assert isinstance(value, dict), f"expected an object literal, got {value!r}"
    return set(value)


def api_settings() -> dict[str, Any]:
    settings = variable(module("functionapp"), "renderfarmSettings")
    assert isinstance(settings, dict)
    return settings


def api_host_settings() -> set[str]:
    return object_keys(variable(module("functionapp"), "hostSettings"))


def pool_env() -> list[dict[str, Any]]:
    """The env entries each pool's container adds to the common ones (its own queue)."""
    (container,) = unwrap(variable(module("containerapps"), "poolContainers"))
    env = container["env"]["function"]
    assert env["type"] == "concat"
    assert env["parameters"]["arg_1"] == "workerEnv"
    added = env["parameters"]["arg_2"]
    assert isinstance(added, list)
    return added


def worker_settings(*, job_mode: bool) -> set[str]:
    doc = module("containerapps")
    names = object_keys(variable(doc, "workerSettings")) | {e["name"] for e in pool_env()}
    return names | object_keys(variable(doc, "jobModeSettings")) if job_mode else names
