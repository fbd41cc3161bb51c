"""The settings Bicep gives the API and the worker are the ones renderfarm's code reads.

Every name in `renderfarm.settings.env_names()` is either given to an app or left out for a
reason written here, so a new setting fails these tests until someone decides where it goes.
Host settings (read by the Functions host, not by renderfarm) are listed apart.
"""

from __future__ import annotations

from typing import Any

import pytest

from renderfarm.settings import Settings, env_names
from tests.infra.bicep_files import module, resource, variable

#: Read by the Functions host on Flex Consumption: identity-based AzureWebJobsStorage and
#: Entra-authenticated telemetry. The runtime itself is set in functionAppConfig.
FUNCTION_HOST_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "ServiceBusConnection__fullyQualifiedNamespace",
    "ServiceBusConnection__credential",
    "ServiceBusConnection__clientId",
}

_IDENTITY_NOT_SECRETS = "Azure reaches services by managed identity, never a connection string"
_KEYS_IN_KEY_VAULT = "API key hashes live in Key Vault (RENDERFARM_KEYVAULT_URL)"
_CODE_DEFAULT = "the code's default is the production value"
_WORKER_ONLY = "read by the worker only"
_API_ONLY = "read by the API only"

API_LEFT_OUT = {
    "RENDERFARM_STORAGE_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_SERVICEBUS_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_API_KEY_HASHES": _KEYS_IN_KEY_VAULT,
    "RENDERFARM_RATE_LIMIT_PER_MINUTE": _CODE_DEFAULT,
    "RENDERFARM_MAX_QUEUED_FRAMES_PER_TENANT": _CODE_DEFAULT,
    "RENDERFARM_MAX_REQUEST_BYTES": _CODE_DEFAULT,
    "RENDERFARM_BLEND_CACHE_DIR": _WORKER_ONLY,
    "RENDERFARM_BLEND_CACHE_MAX_BYTES": _WORKER_ONLY,
    "RENDERFARM_WORKER_MAX_MESSAGES": _WORKER_ONLY,
}

WORKER_LEFT_OUT = {
    "RENDERFARM_STORAGE_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_SERVICEBUS_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_API_KEY_HASHES": _API_ONLY,
    "RENDERFARM_KEYVAULT_URL": _API_ONLY,
    "RENDERFARM_RATE_LIMIT_PER_MINUTE": _API_ONLY,
    "RENDERFARM_MAX_QUEUED_FRAMES_PER_TENANT": _API_ONLY,
    "RENDERFARM_MAX_REQUEST_BYTES": _API_ONLY,
    "RENDERFARM_BLEND_CACHE_DIR": "the default (/tmp) is the container's ephemeral disk",
    "RENDERFARM_BLEND_CACHE_MAX_BYTES": _CODE_DEFAULT,
}

#: Without these an app cannot work in Azure even though Settings() would validate.
API_REQUIRED = {
    "RENDERFARM_STORAGE_ACCOUNT_URL",
    "RENDERFARM_SERVICEBUS_NAMESPACE",
    "RENDERFARM_QUEUE_NAME",
    "RENDERFARM_KEYVAULT_URL",
    "AZURE_CLIENT_ID",
}
WORKER_REQUIRED = {
    "RENDERFARM_STORAGE_ACCOUNT_URL",
    "RENDERFARM_SERVICEBUS_NAMESPACE",
    "RENDERFARM_QUEUE_NAME",
    "AZURE_CLIENT_ID",
}


def object_keys(value: Any) -> set[str]:
    assert isinstance(value, dict), f"expected an object literal, got {value!r}"
    return set(value)


def api_settings() -> dict[str, Any]:
    settings = variable(module("functionapp"), "renderfarmSettings")
    assert isinstance(settings, dict)
    return settings


def api_host_settings() -> set[str]:
    return object_keys(variable(module("functionapp"), "hostSettings"))


def worker_settings(*, job_mode: bool) -> set[str]:
    doc = module("containerapps")
    names = object_keys(variable(doc, "workerSettings"))
    return names | object_keys(variable(doc, "jobModeSettings")) if job_mode else names


def test_function_app_gets_its_settings_as_the_union_of_host_and_renderfarm_settings() -> None:
    doc = module("functionapp")
    union = variable(doc, "allSettings")["function"]
    assert union["type"] == "union"
    assert set(union["parameters"].values()) == {"hostSettings", "renderfarmSettings"}
    assert variable(doc, "appSettingList")["loop_type"]["detail"]["object_name"] == "allSettings"
    site = resource(doc, "site")
    assert site["properties"]["siteConfig"]["appSettings"] == "appSettingList"


def test_function_host_settings_are_exactly_the_listed_ones_and_none_is_renderfarms() -> None:
    assert api_host_settings() == FUNCTION_HOST_SETTINGS
    assert api_host_settings().isdisjoint(env_names())


def test_function_app_renderfarm_settings_are_exactly_those_the_code_reads() -> None:
    given = set(api_settings())
    assert given <= env_names(), f"not read by the code: {given - env_names()}"
    assert given.isdisjoint(API_LEFT_OUT)
    assert given | set(API_LEFT_OUT) == env_names(), (
        "a setting is neither given to the API nor left out for a reason: "
        f"{env_names() - given - set(API_LEFT_OUT)}"
    )


@pytest.mark.parametrize("job_mode", [False, True], ids=["container-app", "job"])
def test_worker_settings_are_exactly_those_the_code_reads(job_mode: bool) -> None:
    given = worker_settings(job_mode=job_mode)
    left_out = dict(WORKER_LEFT_OUT)
    if not job_mode:
        left_out["RENDERFARM_WORKER_MAX_MESSAGES"] = "a Container App worker runs until stopped"
    assert given <= env_names(), f"not read by the code: {given - env_names()}"
    assert given.isdisjoint(left_out)
    assert given | set(left_out) == env_names(), (
        f"a setting is neither given nor left out: {env_names() - given - set(left_out)}"
    )


def test_worker_container_env_is_built_from_the_worker_settings() -> None:
    doc = module("containerapps")
    union = variable(doc, "allWorkerSettings")["function"]["parameters"]
    assert union["arg_1"] == "workerSettings"
    assert union["arg_2"]["operator"]["operands"]["true_value"] == "jobModeSettings"
    assert variable(doc, "workerEnv")["loop_type"]["detail"]["object_name"] == "allWorkerSettings"
    (container,) = variable(doc, "containers")
    assert container["env"] == "workerEnv"


def test_job_mode_worker_takes_one_message_per_execution() -> None:
    assert variable(module("containerapps"), "jobModeSettings") == {
        "RENDERFARM_WORKER_MAX_MESSAGES": "1"
    }


def test_each_app_gets_every_setting_it_needs_in_azure() -> None:
    assert set(api_settings()) >= API_REQUIRED
    assert worker_settings(job_mode=False) >= WORKER_REQUIRED


@pytest.mark.parametrize("app", ["api", "worker"])
def test_given_settings_satisfy_the_settings_validation(
    app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = set(api_settings()) if app == "api" else worker_settings(job_mode=True)
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    for name in given:
        # Bicep computes the values; a placeholder of the right shape stands in for each.
        value = "1" if name == "RENDERFARM_WORKER_MAX_MESSAGES" else "https://placeholder"
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.storage_connection_string is None
    assert settings.servicebus_connection_string is None


def test_no_setting_value_carries_a_key() -> None:
    values = [str(v) for v in api_settings().values()]
    values += [str(v) for v in variable(module("functionapp"), "hostSettings").values()]
    values += [str(v) for v in variable(module("containerapps"), "workerSettings").values()]
    for value in values:
        assert "AccountKey" not in value and "SharedAccessKey" not in value


def test_settings_point_the_api_at_identity_based_endpoints() -> None:
    settings = api_settings()
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    host = variable(module("functionapp"), "hostSettings")
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
