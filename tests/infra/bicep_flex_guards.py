"""A Flex Consumption site sets none of the site properties and app settings Flex rejects."""

from __future__ import annotations

from typing import Any

from tests.infra.bicep_guards import (
    Bicep,
    Declarations,
    is_expression,
    loop_source,
    plain_key,
    root_symbol,
)
from tests.infra.bicep_property_guards import Shapes, resource_body


def flex_sites(doc: Bicep) -> list[str]:
    """The Function Apps of a file that run on Flex Consumption: a functionAppConfig, or a plan
    whose SKU is FlexConsumption / FC1."""
    resources = doc.get("resources") or {}
    flex_plans = {
        name
        for name, r in resources.items()
        if r["type"].lower() == "microsoft.web/serverfarms"
        and {str(v).lower() for v in (resource_body(r).get("sku") or {}).values()}
        & {"flexconsumption", "fc1"}
    }
    sites = []
    for name, r in resources.items():
        if r["type"].lower() != "microsoft.web/sites" or r.get("existing"):
            continue
        properties = resource_body(r).get("properties") or {}
        if "functionAppConfig" in properties or _plan_of(properties) in flex_plans:
            sites.append(name)
    return sites


def _plan_of(site_properties: Bicep) -> str | None:
    """The plan symbol of `serverFarmId: plan.id`, if that is how the site names it."""
    farm = site_properties.get("serverFarmId")
    if not (isinstance(farm, dict) and is_expression(farm) and "operator" in farm):
        return None
    return root_symbol(farm["operator"].get("operands", {}).get("operand_1"))


def app_setting_names(value: Any, shapes: Shapes) -> set[str] | None:
    """The names in siteConfig.appSettings, or None when they cannot be read statically."""
    names: set[str] = set()
    for literal in shapes.resolve(value):
        if not isinstance(literal, list):
            return None
        for entry in literal:
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and not is_expression(name):
                names.add(name)
                continue
            # {name: setting.key} from a loop over items(<object>): the object's keys.
            source = _items_source(value, shapes)
            if source is None:
                return None
            names |= source
    return names


def _items_source(value: Any, shapes: Shapes) -> set[str] | None:
    while isinstance(value, str) and value in shapes.declared.variables:
        value = shapes.declared.variables[value]
    if not (isinstance(value, dict) and "loop_type" in value):
        return None
    source = loop_source(value)
    keys: set[str] = set()
    for literal in shapes.resolve(source):
        if not isinstance(literal, dict) or is_expression(literal):
            return None
        keys |= {plain_key(k) for k in literal}
    return keys


def flex_findings(doc: Bicep, rejected: dict[str, dict[str, str]]) -> list[str]:
    """Site properties and app settings Flex Consumption rejects, on each Flex site."""
    shapes = Shapes(Declarations.of(doc))
    site_rejects = {k.lower(): (k, why) for k, why in rejected["site_properties"].items()}
    setting_rejects = {k.upper(): why for k, why in rejected["app_settings"].items()}
    findings: list[str] = []
    for name in flex_sites(doc):
        properties = resource_body(doc["resources"][name]).get("properties") or {}
        site_config = properties.get("siteConfig") or {}
        for where, section in (("properties", properties), ("properties.siteConfig", site_config)):
            for key in section if isinstance(section, dict) else {}:
                if plain_key(key).lower() in site_rejects:
                    documented, why = site_rejects[plain_key(key).lower()]
                    findings.append(f"{name}: {where}.{plain_key(key)} ({documented}: {why})")
        if "appSettings" in site_config:
            names = app_setting_names(site_config["appSettings"], shapes)
            if names is None:
                findings.append(f"{name}: siteConfig.appSettings cannot be read offline")
                continue
            for setting in sorted(names):
                if setting.upper() in setting_rejects:
                    findings.append(
                        f"{name}: app setting {setting} ({setting_rejects[setting.upper()]})"
                    )
    return findings
