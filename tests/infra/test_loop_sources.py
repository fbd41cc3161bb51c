"""Loops the Bicep compiler refuses (issue 16): a `for` loop's source, a variable loop's body and
an if-condition must be known when the deployment starts (BCP178, BCP182, BCP177). A resource's
properties, a module's outputs, reference() and list*() are known only while it runs, directly or
through variables. The guard walks pycep's parse of every file; the fixtures show it catches each
kind of finding, including the two that infra/ had (issue 16, findings 1 and 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep_files import INFRA, bicep_files, parse
from tests.infra.bicep_guards import loop_findings

FIXTURES = Path(__file__).with_name("fixtures")


def fixture(name: str) -> list[str]:
    return loop_findings(parse(FIXTURES / name))


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_loop_and_condition_is_known_when_the_deployment_starts(path: Path) -> None:
    assert loop_findings(parse(path)) == []


def test_settings_looped_from_a_resource_property_are_caught() -> None:
    (finding,) = fixture("loop_over_resource_properties.bicep")
    assert finding.startswith("BCP178 variable appSettingList")
    assert "appInsights.properties" in finding
    assert "(via variable renderfarmSettings) (via variable allSettings)" in finding


def test_module_outputs_reference_list_interpolations_and_conditions_are_caught() -> None:
    findings = fixture("loop_over_deploy_time_values.bicep")
    assert findings == [
        "BCP178 variable fromOutputs: the for-expression's source reads queues.outputs",
        "BCP178 variable fromReference: the for-expression's source reads reference()",
        "BCP178 variable fromList: the for-expression's source reads sa.listKeys()"
        " (via variable keys)",
        "BCP182 variable endpoints: the for-body reads sa.properties",
        "BCP177 resource containers: the if-condition reads sa.properties",
    ]


def test_the_fix_parameters_and_deploy_time_constants_pass() -> None:
    # A resource's id and name are known at the start; parameters are, in a module.
    assert fixture("loop_over_parameters.bicep") == []


def test_the_worker_pools_loop_over_a_parameter_only() -> None:
    main = parse(INFRA / "main.bicep")
    for name in ("cpuPools", "gpuPools"):
        loop = main["variables"][name]["value"]["loop_type"]["detail"]
        assert loop["array_name"] == "blenderVersions"
    concat = main["variables"]["pools"]["value"]["function"]
    assert concat["type"] == "concat"
    assert concat["parameters"]["arg_1"] == "cpuPools"
    assert concat["parameters"]["arg_2"]["operator"]["operands"] == {
        "condition": "deployGpuWorkers",
        "true_value": "gpuPools",
        "false_value": [],
    }
    assert "blenderVersions" in main["parameters"]
