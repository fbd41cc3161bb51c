"""A Function App on Flex Consumption sets none of the site properties and app settings that
Flex Consumption rejects or ignores (issue 16). ARM refuses some of them outright (error 51021 for
siteConfig.ftpsState in some regions, issue 16 finding 3). The lists are Microsoft's:

- "Flex Consumption plan deprecations", App settings reference for Azure Functions,
  https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
- "Considerations", Azure Functions Flex Consumption plan hosting (time zones, certificates),
  https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations

Both read 2026-11-28. Microsoft writes site properties as `properties.X` even where ARM nests
them in siteConfig, so the guard looks for each name in both places."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep_files import INFRA, bicep_files, module, parse, resource
from tests.infra.bicep_flex_guards import flex_findings, flex_sites

FIXTURES = Path(__file__).with_name("fixtures")

_RUNTIME = "replaced by properties.functionAppConfig.runtime"
_NETWORK = "not used for networking in Flex Consumption"

REJECTED = {
    "site_properties": {
        "alwaysOn": "not valid",
        "containerSize": "renamed as instanceMemoryMB",
        "ftpsState": "FTPS not supported",
        "isReserved": "not valid",
        "IsXenon": "not valid",
        "javaVersion": _RUNTIME,
        "LinuxFxVersion": _RUNTIME,
        "netFrameworkVersion": _RUNTIME,
        "powerShellVersion": _RUNTIME,
        "functionAppScaleLimit": "renamed as maximumInstanceCount",
        "preWarmedInstanceCount": "renamed as alwaysReadyInstances",
        "use32BitWorkerProcess": "32-bit not supported",
        "vnetBackupRestoreEnabled": _NETWORK,
        "vnetContentShareEnabled": _NETWORK,
        "vnetImagePullEnabled": _NETWORK,
        "vnetRouteAllEnabled": _NETWORK,
        "windowsFxVersion": "not valid",
    },
    "app_settings": {
        "ENABLE_ORYX_BUILD": "replaced by the remoteBuild deployment parameter",
        "FUNCTIONS_EXTENSION_VERSION": "set by the backend",
        "FUNCTIONS_WORKER_RUNTIME": _RUNTIME,
        "FUNCTIONS_WORKER_RUNTIME_VERSION": _RUNTIME,
        "FUNCTIONS_MAX_HTTP_CONCURRENCY": "replaced by scaleAndConcurrency's triggers",
        "FUNCTIONS_WORKER_PROCESS_COUNT": "not valid",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "not valid",
        "SCM_DO_BUILD_DURING_DEPLOYMENT": "replaced by the remoteBuild deployment parameter",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "replaced by functionAppConfig.deployment",
        "WEBSITE_CONTENTOVERVNET": _NETWORK,
        "WEBSITE_CONTENTSHARE": "replaced by functionAppConfig.deployment",
        "WEBSITE_DNS_SERVER": "DNS comes from the integrated virtual network",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "replaced by maximumInstanceCount",
        "WEBSITE_NODE_DEFAULT_VERSION": _RUNTIME,
        "WEBSITE_RUN_FROM_PACKAGE": "not used for deployments in Flex Consumption",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "no content share in Flex Consumption",
        "WEBSITE_VNET_ROUTE_ALL": _NETWORK,
        "WEBSITE_TIME_ZONE": "not supported on Flex Consumption",
        "TZ": "not supported on Flex Consumption",
        "WEBSITE_LOAD_CERTIFICATES": "not supported on Flex Consumption",
    },
}


def fixture(name: str) -> list[str]:
    return flex_findings(parse(FIXTURES / name), REJECTED)


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_no_flex_site_sets_what_flex_consumption_rejects(path: Path) -> None:
    assert flex_findings(parse(path), REJECTED) == []


def test_the_api_is_the_one_flex_site_and_the_guard_sees_it() -> None:
    assert flex_sites(module("functionapp")) == ["site"]


def test_the_api_runs_python_3_13_set_in_function_app_config() -> None:
    doc = module("functionapp")
    runtime = resource(doc, "site")["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "pythonVersion"}
    assert doc["parameters"]["pythonVersion"]["default"] == "3.13"


def test_the_lowest_maximum_instance_count_is_the_documented_one() -> None:
    # Flex Consumption accepts 1 to 1000 ("Considerations" above; the preview's floor was 40).
    for doc, name in (
        (parse(INFRA / "main.bicep"), "functionMaximumInstanceCount"),
        (module("functionapp"), "maximumInstanceCount"),
    ):
        decorators = {d["type"]: d["argument"] for d in doc["parameters"][name]["decorators"]}
        assert (decorators["min_value"], decorators["max_value"]) == (1, 1000)


def test_reintroduced_ftps_state_and_other_rejected_settings_are_caught() -> None:
    assert fixture("flex_site_rejected_properties.bicep") == [
        "site: properties.siteConfig.ftpsState (ftpsState: FTPS not supported)",
        "site: properties.siteConfig.linuxFxVersion (LinuxFxVersion: " + _RUNTIME + ")",
        "site: app setting FUNCTIONS_WORKER_RUNTIME (" + _RUNTIME + ")",
    ]


def test_a_site_on_another_plan_may_set_them() -> None:
    assert fixture("premium_site_with_ftps_state.bicep") == []
