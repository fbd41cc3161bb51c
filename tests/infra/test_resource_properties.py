"""Every property path the Bicep sets exists in Microsoft's resource type definition for that
exact API version (issue 16): resource_types.json is an allowlist taken from those definitions
(its header says where from and when). A property the version does not have is what the compiler
warns about as BCP037 and ARM may refuse; the fixtures show the guard fails on one, including the
registry's anonymousPullEnabled on 2023-07-01 (issue 16, finding 4)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_files import INFRA, bicep_files, parse
from tests.infra.bicep_property_guards import property_findings

FIXTURES = Path(__file__).with_name("fixtures")
ALLOWLIST = Path(__file__).with_name("resource_types.json")


def allowlist() -> dict[str, Any]:
    types = json.loads(ALLOWLIST.read_text(encoding="utf-8"))["types"]
    assert isinstance(types, dict)
    return types


def fixture(name: str) -> list[str]:
    return property_findings(parse(FIXTURES / name), allowlist())


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_property_set_exists_in_its_api_version(path: Path) -> None:
    assert property_findings(parse(path), allowlist()) == []


def test_the_allowlist_says_where_and_when_it_was_taken() -> None:
    header = json.loads(ALLOWLIST.read_text(encoding="utf-8"))
    assert header["repository"] == "https://github.com/Azure/bicep-types-az"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", header["taken"])
    for kind, entry in allowlist().items():
        provider, version = kind.split("@")
        assert re.fullmatch(
            rf"generated/[\w-]+/{re.escape(provider.split('/')[0].lower())}/"
            rf"{re.escape(version)}/types\.md@[0-9a-f]{{40}}",
            entry["source"],
        ), f"{kind}: its source must be that version's types.md at a commit"


def test_the_registry_property_missing_from_2023_07_01_is_caught() -> None:
    assert fixture("registry_anonymous_pull_2023_07_01.bicep") == [
        "registry (Microsoft.ContainerRegistry/registries@2023-07-01).properties: "
        "'anonymousPullEnabled' is no property of this type and version"
    ]


def test_the_api_version_that_has_it_passes() -> None:
    assert fixture("registry_anonymous_pull_2025_04_01.bicep") == []


def test_misspelled_properties_are_caught_through_variables_loops_and_concat() -> None:
    assert fixture("misspelled_nested_properties.bicep") == [
        "apps (Microsoft.App/containerApps@2024-10-02-preview).properties.template"
        ".containers[].env[]: 'valu' is no property of this type and version",
        "apps (Microsoft.App/containerApps@2024-10-02-preview).properties.template.scale: "
        "'minReplica' is no property of this type and version",
    ]


def test_a_type_or_version_without_an_allowlist_entry_fails() -> None:
    doc = parse(FIXTURES / "registry_anonymous_pull_2025_04_01.bicep")
    findings = property_findings(doc, {})
    assert findings == [
        "registry: Microsoft.ContainerRegistry/registries@2025-04-01 is not in the allowlist "
        "(add it from its definition)"
    ]


def test_an_entry_for_one_name_of_a_type_checks_that_name_only() -> None:
    assert fixture("site_config_named_web.bicep") == [
        "webConfig: Microsoft.Web/sites/config@2024-04-01 is in the allowlist for the name "
        "'authsettingsV2' only (add the other name's properties from its definition)"
    ]


def test_a_misspelled_auth_setting_is_caught() -> None:
    assert fixture("site_authsettings_v2_misspelled.bicep") == [
        "auth (Microsoft.Web/sites/config@2024-04-01).properties.globalValidation: "
        "'excludePaths' is no property of this type and version"
    ]
