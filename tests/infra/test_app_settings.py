"""The settings Bicep gives the API and the workers are the ones renderfarm's code reads.

Every name in `renderfarm.shared.settings.env_names()` is either given to an app or left out for a
reason written here, so a new setting fails these tests until someone decides where it goes.
Host settings (read by the Functions host, not by renderfarm) are listed apart. The API gets the
pools (RENDERFARM_QUEUE_PREFIX, RENDERFARM_BLENDER_VERSIONS); each pool's worker its own queue.

A setting whose code default is right may still be given: every name of a queue or container the
Bicep creates is given, from the same main.bicep variable that names the resource, so the app and
its resources cannot drift apart; a tuning knob whose default is the production value is left out.
"""

from __future__ import annotations

import pytest

from renderfarm.shared.settings import Settings, env_names
from tests.infra.app_settings_bicep import (
    api_host_settings,
    api_settings,
    pool_env,
    worker_settings,
)
from tests.infra.bicep_files import MAIN_BICEP, module, parse, resource, variable

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

#: Read by App Service Authentication (Entra ID sign-in, given only with entraSignIn): the app
#: registration's client secret as a Key Vault reference (authsettingsV2's
#: clientSecretSettingName).
AUTH_SETTINGS = {"MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"}

_IDENTITY_NOT_SECRETS = "Azure reaches services by managed identity, never a connection string"
_KEYS_IN_KEY_VAULT = "API key hashes live in Key Vault (RENDERFARM_KEYVAULT_URL)"
_CODE_DEFAULT = "the code's default is the production value"
_WORKER_ONLY = "read by the worker only"
_API_ONLY = "read by the API only"
_OWN_QUEUE = "a worker is given its own pool's queue (RENDERFARM_QUEUE_NAME)"
_WEBHOOKS_ONLY = "the Function App registers webhooks and delivers to them"
_LOCAL_VAULT_ONLY = "the local farm's Key Vault emulator only; Azure's vault needs no CA bundle"
_EMULATOR_ONLY = "the Service Bus emulator's counts; Azure's come from the administration API"
_LOCAL_FARM_ONLY = "the local farm's autoscalers; KEDA scales the replicas in Azure"

API_LEFT_OUT = {
    "RENDERFARM_BUDGET_CACHE_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_BUDGET_HOLD_RECHECK_SECONDS": _WORKER_ONLY,
    "RENDERFARM_STORAGE_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_SERVICEBUS_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_API_KEY_HASHES": _KEYS_IN_KEY_VAULT,
    "RENDERFARM_RATE_LIMIT_PER_MINUTE": _CODE_DEFAULT,
    "RENDERFARM_RATE_LIMIT_TABLE_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_RATE_LIMIT_STORE_RETRY_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_MAX_QUEUED_FRAMES_PER_TENANT": _CODE_DEFAULT,
    "RENDERFARM_MAX_REQUEST_BYTES": _CODE_DEFAULT,
    "RENDERFARM_BLEND_CACHE_DIR": _WORKER_ONLY,
    "RENDERFARM_BLEND_CACHE_MAX_BYTES": _WORKER_ONLY,
    "RENDERFARM_WORKER_MAX_MESSAGES": _WORKER_ONLY,
    "RENDERFARM_QUEUE_NAME": "a worker's own queue; the API sends to every pool's queue",
    "RENDERFARM_QUEUE_NAMES": _WORKER_ONLY,
    "RENDERFARM_WORKER_DEVICE": _WORKER_ONLY,
    "RENDERFARM_WEBHOOK_RETRY_BASE_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_KEYVAULT_CA_BUNDLE": _LOCAL_VAULT_ONLY,
    "RENDERFARM_KEYVAULT_CACHE_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_DASHBOARD_SESSION_SECRET": "kept in Key Vault (dashboard-session-secret)",
    "RENDERFARM_DASHBOARD_SESSION_MINUTES": _CODE_DEFAULT,
    "RENDERFARM_SERVICEBUS_MANAGEMENT_URL": _EMULATOR_ONLY,
    "RENDERFARM_LOCAL_REPLICAS_FILE": _LOCAL_FARM_ONLY,
    "RENDERFARM_RENDER_THREADS": _WORKER_ONLY,
    "RENDERFARM_WORKER_START_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_MAX_PROJECT_FILES": _CODE_DEFAULT,
    "RENDERFARM_MAX_PROJECT_BYTES": _CODE_DEFAULT,
    "RENDERFARM_PROJECT_FILES_KEEP_DAYS": _CODE_DEFAULT,
    "RENDERFARM_QUOTE_EXPIRY_HOURS": "read by the worker that quotes a scouted job",
    "RENDERFARM_USAGE_TABLE": _CODE_DEFAULT,
    "RENDERFARM_BUDGETS_TABLE": _CODE_DEFAULT,
}

WORKER_LEFT_OUT = {
    "RENDERFARM_BUDGET_CACHE_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_BUDGET_HOLD_RECHECK_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_STORAGE_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_SERVICEBUS_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_API_KEY_HASHES": _API_ONLY,
    "RENDERFARM_KEYVAULT_URL": _API_ONLY,
    "RENDERFARM_RATE_LIMIT_PER_MINUTE": _API_ONLY,
    "RENDERFARM_RATE_LIMIT_TABLE_CONNECTION_STRING": _IDENTITY_NOT_SECRETS,
    "RENDERFARM_RATE_LIMIT_TABLE": _API_ONLY,
    "RENDERFARM_RATE_LIMIT_STORE_RETRY_SECONDS": _API_ONLY,
    "RENDERFARM_USAGE_TABLE": _CODE_DEFAULT,
    "RENDERFARM_BUDGETS_TABLE": _CODE_DEFAULT,
    "RENDERFARM_MAX_QUEUED_FRAMES_PER_TENANT": _API_ONLY,
    "RENDERFARM_MAX_REQUEST_BYTES": _API_ONLY,
    "RENDERFARM_BLEND_CACHE_DIR": "the default (/tmp) is the container's ephemeral disk",
    "RENDERFARM_BLEND_CACHE_MAX_BYTES": _CODE_DEFAULT,
    "RENDERFARM_QUEUE_PREFIX": _OWN_QUEUE,
    "RENDERFARM_BLENDER_VERSIONS": _OWN_QUEUE,
    "RENDERFARM_WEBHOOK_DELIVERIES_QUEUE": _WEBHOOKS_ONLY,
    "RENDERFARM_WEBHOOKS_CONTAINER": _WEBHOOKS_ONLY,
    "RENDERFARM_WEBHOOK_RETRY_BASE_SECONDS": _WEBHOOKS_ONLY,
    "RENDERFARM_KEYVAULT_CA_BUNDLE": _LOCAL_VAULT_ONLY,
    "RENDERFARM_KEYVAULT_CACHE_SECONDS": _API_ONLY,
    "RENDERFARM_QUEUE_NAME": "a worker serves its pool's band queues (RENDERFARM_QUEUE_NAMES)",
    "RENDERFARM_GPU_WORKERS": _API_ONLY,
    "RENDERFARM_DASHBOARD_SESSION_SECRET": _API_ONLY,
    "RENDERFARM_DASHBOARD_SESSION_MINUTES": _API_ONLY,
    "RENDERFARM_SERVICEBUS_MANAGEMENT_URL": _API_ONLY,
    "RENDERFARM_LOCAL_REPLICAS_FILE": _API_ONLY,
    "RENDERFARM_RENDER_THREADS": "0: a replica renders on all of its vCPUs",
    "RENDERFARM_WORKER_START_SECONDS": _CODE_DEFAULT,
    "RENDERFARM_QUOTE_EXPIRY_HOURS": _CODE_DEFAULT,
    "RENDERFARM_MAX_PROJECT_FILES": _API_ONLY,
    "RENDERFARM_MAX_PROJECT_BYTES": _API_ONLY,
    "RENDERFARM_PROJECT_FILES_KEEP_DAYS": _API_ONLY,
}

#: Without these an app cannot work in Azure even though Settings() would validate.
API_REQUIRED = {
    "RENDERFARM_STORAGE_ACCOUNT_URL",
    "RENDERFARM_SERVICEBUS_NAMESPACE",
    "RENDERFARM_QUEUE_PREFIX",
    "RENDERFARM_BLENDER_VERSIONS",
    "RENDERFARM_KEYVAULT_URL",
    "AZURE_CLIENT_ID",
}
WORKER_REQUIRED = {
    "RENDERFARM_STORAGE_ACCOUNT_URL",
    "RENDERFARM_SERVICEBUS_NAMESPACE",
    "RENDERFARM_QUEUE_NAMES",
    "RENDERFARM_WORKER_DEVICE",
    "AZURE_CLIENT_ID",
}


#: Realistic stand-ins for the values Bicep computes, where the code checks a value's shape.
PLACEHOLDERS = {
    "RENDERFARM_WORKER_MAX_MESSAGES": "1",
    "RENDERFARM_BLENDER_VERSIONS": "5.3,4.5",
    "RENDERFARM_QUEUE_PREFIX": "render-chunks",
    "RENDERFARM_QUEUE_NAME": "render-chunks-5.3",
    "RENDERFARM_QUEUE_NAMES": "render-chunks-5.3-high,render-chunks-5.3,render-chunks-5.3-low",
    "RENDERFARM_WORKER_DEVICE": "GPU",
    "RENDERFARM_GPU_WORKERS": "false",
    "RENDERFARM_WORKER_MAX_REPLICAS": "10",
}


def test_function_app_gets_its_settings_as_the_union_of_host_and_renderfarm_settings() -> None:
    doc = module("functionapp")
    union = variable(doc, "allSettings")["function"]
    assert union["type"] == "union"
    host, renderfarm, auth = union["parameters"].values()
    assert (host, renderfarm) == ("hostSettings", "renderfarmSettings")
    assert auth == {
        "operator": {
            "type": "conditional",
            "operands": {
                "condition": "entraSignIn",
                "true_value": "authSettings",
                "false_value": {},
            },
        }
    }
    assert variable(doc, "appSettingList")["loop_type"]["detail"]["object_name"] == "allSettings"
    site = resource(doc, "site")
    assert site["properties"]["siteConfig"]["appSettings"] == "appSettingList"


def test_function_host_settings_are_exactly_the_listed_ones_and_none_is_renderfarms() -> None:
    assert api_host_settings() == FUNCTION_HOST_SETTINGS
    assert api_host_settings().isdisjoint(env_names())


def test_entra_sign_in_reads_its_client_secret_through_a_key_vault_reference() -> None:
    """The template never holds the secret: the setting authsettingsV2 names is a Key Vault
    reference, resolved as the site's user-assigned identity, to a secret in the farm's vault."""
    doc = module("functionapp")
    auth = variable(doc, "authSettings")
    assert set(auth) == AUTH_SETTINGS == {variable(doc, "entraSecretSettingName")}
    assert AUTH_SETTINGS.isdisjoint(env_names()) and AUTH_SETTINGS.isdisjoint(
        FUNCTION_HOST_SETTINGS
    )
    (reference,) = auth.values()
    assert reference == (
        "@Microsoft.KeyVault(SecretUri=${keyVaultUrl}secrets/${entraClientSecretName}/)"
    )
    registration = resource(doc, "authSettingsV2")["properties"]["identityProviders"][
        "azureActiveDirectory"
    ]["registration"]
    assert registration["clientSecretSettingName"] == "entraSecretSettingName"
    assert "clientSecret" not in registration
    site = resource(doc, "site")
    assert site["properties"]["siteConfig"]["keyVaultReferenceIdentity"] == "identityId"


def test_entra_sign_in_is_off_by_default_and_leaves_the_api_to_api_keys() -> None:
    main = parse(MAIN_BICEP)
    assert main["parameters"]["entraSignIn"]["default"] is False
    params = main["modules"]["api"]["config"]["params"]
    for name in ("entraSignIn", "entraClientId", "entraClientSecretName"):
        assert params[name] == name
    doc = module("functionapp")
    assert doc["resources"]["authSettingsV2"]["config"]["condition"] == "entraSignIn"
    validation = resource(doc, "authSettingsV2")["properties"]["globalValidation"]
    assert validation == {
        "requireAuthentication": True,
        "unauthenticatedClientAction": "RedirectToLoginPage",
        "excludedPaths": ["/api/*"],
    }


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


def test_worker_container_env_is_built_from_the_worker_settings_and_the_pool_queue() -> None:
    doc = module("containerapps")
    union = variable(doc, "allWorkerSettings")["function"]["parameters"]
    assert union["arg_1"] == "workerSettings"
    assert union["arg_2"]["operator"]["operands"]["true_value"] == "jobModeSettings"
    assert variable(doc, "workerEnv")["loop_type"]["detail"]["object_name"] == "allWorkerSettings"
    containers = variable(doc, "poolContainers")
    assert containers["loop_type"]["detail"]["array_name"] == "pools"
    queues, device, replicas = pool_env()
    assert queues["name"] == "RENDERFARM_QUEUE_NAMES"
    join = queues["value"]["function"]
    assert join["type"] == "join"
    assert join["parameters"]["input_array"]["operator"]["operands"] == {
        "operand_1": "pool",
        "operand_2": "queueNames",
    }
    assert join["parameters"]["delimiter"] == ","
    assert device["name"] == "RENDERFARM_WORKER_DEVICE"
    assert device["value"]["operator"]["operands"] == {"operand_1": "pool", "operand_2": "device"}
    assert replicas["name"] == "RENDERFARM_WORKER_MAX_REPLICAS"
    assert replicas["value"]["function"]["type"] == "string"
    for name in ("workerApps", "workerJobs"):
        template = resource(doc, name)["properties"]["template"]
        containers_of_pool = template["containers"]["operator"]
        assert containers_of_pool["type"] == "index_accessor"
        assert containers_of_pool["operands"] == {"operand_1": "poolContainers", "operand_2": "i"}


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
        monkeypatch.setenv(name, PLACEHOLDERS.get(name, "https://placeholder"))
    settings = Settings()
    assert settings.storage_connection_string is None
    assert settings.servicebus_connection_string is None


def test_no_setting_value_carries_a_key() -> None:
    values = [str(v) for v in api_settings().values()]
    values += [str(v) for v in variable(module("functionapp"), "hostSettings").values()]
    values += [str(v) for v in variable(module("functionapp"), "authSettings").values()]
    values += [str(v) for v in variable(module("containerapps"), "workerSettings").values()]
    for value in values:
        assert "AccountKey" not in value and "SharedAccessKey" not in value


def test_settings_point_the_api_at_identity_based_endpoints() -> None:
    settings = api_settings()
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    host = variable(module("functionapp"), "hostSettings")
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
