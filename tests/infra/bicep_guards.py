"""Offline checks for errors that only `bicep build` or Azure would otherwise catch (issue 16).

No Bicep compiler can run here, so these walk pycep's parse of each file:

* loop sources (BCP178), variable-loop bodies (BCP182) and resource conditions (BCP177) must be
  known when the deployment starts: no resource `properties`, module `outputs`, `reference()` or
  `list*()`, directly or through variables;
* every property path a resource sets must exist in Microsoft's resource type definition for
  its exact API version (an allowlist taken from those definitions, resource_types.json);
* a Flex Consumption site sets none of the properties and app settings Flex rejects.

Each check returns findings, one line each; an empty list means the file passes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Bicep = dict[str, Any]

#: What a resource exposes before it is deployed; anything else is known only at deploy time.
DEPLOY_TIME_CONSTANTS = frozenset({"id", "name", "type", "apiVersion"})
#: Bicep's own resource keys, not ARM properties of the type.
LANGUAGE_KEYS = frozenset({"parent", "scope", "dependsOn"})
#: A free-form map in resource_types.json: any key, values unchecked (tags, metadata, ...).
ANY_KEYS = "*"
#: Variables referring to variables this deep are a cycle, not a template.
MAX_DEPTH = 20

_INTERPOLATION = re.compile(r"\$\{(.*?)\}")
_ACCESS = re.compile(r"\b([A-Za-z_]\w*)(?:\[[^\]]*\])?\.([A-Za-z_]\w*)")
_CALL = re.compile(r"(?:^|[^\w.])(reference|list\w*)\s*\(")
_METHOD = re.compile(r"\.(list\w*)\s*\(")
_WORD = re.compile(r"\b[A-Za-z_]\w*\b")


def is_expression(value: Any) -> bool:
    """pycep's expression nodes (a call, an operator, a loop) as opposed to an object literal,
    which may well have a property named 'operator' (a metric alert's dimension has one)."""
    if not isinstance(value, dict):
        return False
    if "loop_type" in value:
        return True
    if len(value) != 1:
        return False
    ((key, node),) = value.items()
    return key in ("function", "operator") and isinstance(node, dict) and "type" in node


def plain_key(key: str) -> str:
    """An object key without the quotes Bicep needs for keys such as 'odata.type'."""
    return key[1:-1] if len(key) > 1 and key[0] == key[-1] == "'" else key


def loop_source(loop: Bicep) -> Any:
    """What a `[for ...]` iterates over. pycep writes a non-identifier items() argument as the
    repr of its dict, so that is read back."""
    detail = loop["loop_type"]["detail"]
    if "start_index" in detail:
        return [detail["start_index"], detail["count"]]
    source = detail.get("array_name", detail.get("object_name"))
    if isinstance(source, str) and source.startswith("{"):
        return ast.literal_eval(source)
    return source


def loop_locals(loop: Bicep) -> frozenset[str]:
    detail = loop["loop_type"]["detail"]
    return frozenset(
        name for name in (detail.get("item_name"), detail.get("index_name")) if name is not None
    )


@dataclass(frozen=True)
class Declarations:
    """The symbols of one file, to tell a variable or a resource from a literal string."""

    variables: dict[str, Any]
    resources: frozenset[str]
    modules: frozenset[str]

    @classmethod
    def of(cls, doc: Bicep) -> Declarations:
        return cls(
            variables={name: v["value"] for name, v in (doc.get("variables") or {}).items()},
            resources=frozenset(doc.get("resources") or {}),
            modules=frozenset(doc.get("modules") or {}),
        )


@dataclass
class DeployTimeValues:
    """Finds what in an expression is known only once the deployment runs."""

    declared: Declarations
    _cache: dict[str, list[str]] = field(default_factory=dict)

    def reasons(self, value: Any, local: frozenset[str] = frozenset()) -> list[str]:
        """Why `value` is known only at deploy time: one entry per runtime reference."""
        if isinstance(value, str):
            return self._in_string(value, local)
        if isinstance(value, list):
            return [r for item in value for r in self.reasons(item, local)]
        if is_expression(value):
            return self._in_expression(value, local)
        if isinstance(value, dict):
            return [r for item in value.values() for r in self.reasons(item, local)]
        return []

    def _in_expression(self, value: Bicep, local: frozenset[str]) -> list[str]:
        if "loop_type" in value:
            inner = local | loop_locals(value)
            return self.reasons(loop_source(value), local) + self.reasons(value["config"], inner)
        if "operator" in value:
            return self._in_operator(value["operator"], local)
        call = value["function"]
        if call.get("type") in ("reference", "list_func"):
            return [f"{call.get('parameters', {}).get('func_name', call['type'])}()"]
        return self.reasons(call.get("parameters", {}), local)

    def _in_operator(self, operator: Bicep, local: frozenset[str]) -> list[str]:
        operands = operator.get("operands", {})
        if operator.get("type") == "function_accessor":
            name = str(operands.get("func_name", ""))
            found = [f"{operands.get('operand_1')}.{name}()"] if name.startswith("list") else []
            return found + self.reasons(operands.get("operand_1"), local)
        if operator.get("type") == "property_accessor":
            root, first = operands.get("operand_1"), first_name(operands.get("operand_2"))
            symbol = root_symbol(root)
            found = []
            if symbol in self.declared.resources and first not in DEPLOY_TIME_CONSTANTS:
                found.append(f"{symbol}.{first}")
            if symbol in self.declared.modules and first == "outputs":
                found.append(f"{symbol}.outputs")
            found += self.reasons(root, local)
            return found + self._in_index(operands.get("operand_2"), local)
        return [r for item in operands.values() for r in self.reasons(item, local)]

    def _in_index(self, accessor: Any, local: frozenset[str]) -> list[str]:
        """Index expressions inside an accessor chain (`x.y[z]`): only their operands count."""
        if not (is_expression(accessor) and "operator" in accessor):
            return []
        operands = accessor["operator"].get("operands", {})
        if accessor["operator"].get("type") == "index_accessor":
            return self.reasons(operands.get("operand_2"), local)
        return self._in_index(operands.get("operand_2"), local)

    def _in_string(self, text: str, local: frozenset[str]) -> list[str]:
        if text in self.declared.variables and text not in local:
            return self._variable(text)
        found: list[str] = []
        for expression in _INTERPOLATION.findall(text):
            for symbol, first in _ACCESS.findall(expression):
                if symbol in self.declared.resources and first not in DEPLOY_TIME_CONSTANTS:
                    found.append(f"{symbol}.{first}")
                if symbol in self.declared.modules and first == "outputs":
                    found.append(f"{symbol}.outputs")
            found += [f"{name}()" for name in _CALL.findall(expression)]
            found += [f".{name}()" for name in _METHOD.findall(expression)]
            for word in set(_WORD.findall(expression)) - local:
                if word in self.declared.variables:
                    found += self._variable(word)
        return found

    def _variable(self, name: str) -> list[str]:
        if name not in self._cache:
            self._cache[name] = []  # a cycle is the compiler's business, not this walk's
            inner = self.reasons(self.declared.variables[name])
            self._cache[name] = [f"{reason} (via variable {name})" for reason in inner]
        return self._cache[name]


def root_symbol(root: Any) -> str | None:
    """The declared name at the start of an accessor chain: `x`, `x[i]`."""
    if isinstance(root, str):
        return root
    if is_expression(root) and "operator" in root:
        operator = root["operator"]
        if operator.get("type") == "index_accessor":
            return root_symbol(operator["operands"].get("operand_1"))
    return None


def first_name(accessor: Any) -> str | None:
    """The first property name of the rest of an accessor chain (pycep nests it rightwards)."""
    if isinstance(accessor, str):
        return accessor
    if is_expression(accessor) and "operator" in accessor:
        return first_name(accessor["operator"]["operands"].get("operand_1"))
    return None


def loops(value: Any, where: str) -> Iterator[tuple[str, Bicep]]:
    """Every `[for ...]` in a value, with where it is."""
    if isinstance(value, list):
        for item in value:
            yield from loops(item, where)
    elif isinstance(value, dict):
        if "loop_type" in value:
            yield where, value
        for key, item in value.items():
            if key != "loop_type":
                yield from loops(item, where)


def loop_findings(doc: Bicep) -> list[str]:
    """BCP178 (loop sources), BCP182 (variable-loop bodies), BCP177 (resource conditions)."""
    values = DeployTimeValues(Declarations.of(doc))
    declarations = [
        *(("variable", n, v["value"]) for n, v in (doc.get("variables") or {}).items()),
        *(("resource", n, r["config"]) for n, r in (doc.get("resources") or {}).items()),
        *(("module", n, m["config"]) for n, m in (doc.get("modules") or {}).items()),
        *(("output", n, o["value"]) for n, o in (doc.get("outputs") or {}).items()),
    ]
    findings: list[str] = []
    for kind, name, value in declarations:
        for where, loop in loops(value, f"{kind} {name}"):
            for reason in values.reasons(loop_source(loop)):
                findings.append(f"BCP178 {where}: the for-expression's source reads {reason}")
            if kind == "variable":
                for reason in values.reasons(loop["config"], loop_locals(loop)):
                    findings.append(f"BCP182 {where}: the for-body reads {reason}")
        condition = value.get("condition") if isinstance(value, dict) else None
        if kind in ("resource", "module") and condition is not None:
            for reason in values.reasons(condition):
                findings.append(f"BCP177 {kind} {name}: the if-condition reads {reason}")
    return findings


# --- Property names against Microsoft's resource type definitions ---


@dataclass(frozen=True)
class Shapes:
    """Resolves variable references and the array/object combinators into the literals they
    produce, so a property set through `containers: poolContainers[i]` is checked too."""

    declared: Declarations

    def resolve(self, value: Any, depth: int = 0) -> list[Any]:
        """The literal values an expression may stand for; an opaque expression gives []."""
        if depth > MAX_DEPTH:
            return []
        if isinstance(value, str) and value in self.declared.variables:
            return self.resolve(self.declared.variables[value], depth + 1)
        if not is_expression(value):
            return [value]
        if "loop_type" in value:
            # An array whose elements are what the loop's body stands for.
            return [self.resolve(value["config"], depth + 1)]
        if "operator" in value:
            return self._operator(value["operator"], depth)
        return self._call(value["function"], depth)

    def _operator(self, operator: Bicep, depth: int) -> list[Any]:
        operands = operator.get("operands", {})
        if operator.get("type") == "index_accessor":
            arrays = self.resolve(operands.get("operand_1"), depth + 1)
            return [element for array in arrays if isinstance(array, list) for element in array]
        if operator.get("type") == "conditional":
            return self.resolve(operands.get("true_value"), depth + 1) + self.resolve(
                operands.get("false_value"), depth + 1
            )
        return []

    def _call(self, call: Bicep, depth: int) -> list[Any]:
        parameters = call.get("parameters", {})
        arguments = [parameters[k] for k in sorted(parameters) if k.startswith("arg")]
        resolved = [part for arg in arguments for part in self.resolve(arg, depth + 1)]
        if call.get("type") == "concat":
            return [[item for array in resolved if isinstance(array, list) for item in array]]
        if call.get("type") == "union":
            return resolved
        return []


def property_findings(doc: Bicep, allowlist: dict[str, Any]) -> list[str]:
    """Every property a deployed (not `existing`) resource sets, against the allowlist."""
    shapes = Shapes(Declarations.of(doc))
    findings: list[str] = []
    for name, declared in (doc.get("resources") or {}).items():
        if declared.get("existing"):
            continue
        kind = f"{declared['type']}@{declared['api_version']}"
        if kind not in allowlist:
            findings.append(f"{name}: {kind} is not in the allowlist (add it from its definition)")
            continue
        only = allowlist[kind].get("name")  # a type whose properties differ by resource name
        if only is not None and _body(declared).get("name") != only:
            findings.append(
                f"{name}: {kind} is in the allowlist for the name '{only}' only "
                "(add the other name's properties from its definition)"
            )
            continue
        findings += _walk(
            _body(declared), allowlist[kind]["schema"], f"{name} ({kind})", shapes, top=True
        )
    return findings


def _walk(value: Any, schema: Any, path: str, shapes: Shapes, *, top: bool = False) -> list[str]:
    if schema is None or schema == ANY_KEYS:
        return []
    findings: list[str] = []
    for literal in shapes.resolve(value):
        if isinstance(literal, list):
            for element in literal:
                findings += _walk(element, schema, f"{path}[]", shapes)
        elif isinstance(literal, dict) and not is_expression(literal):
            for raw_key, item in literal.items():
                key = plain_key(raw_key)
                if top and key in LANGUAGE_KEYS:
                    continue
                if key not in schema:
                    findings.append(f"{path}: '{key}' is no property of this type and version")
                else:
                    findings += _walk(item, schema[key], f"{path}.{key}", shapes)
    return findings


# --- Flex Consumption ---


def flex_sites(doc: Bicep) -> list[str]:
    """The Function Apps of a file that run on Flex Consumption: a functionAppConfig, or a plan
    whose SKU is FlexConsumption / FC1."""
    resources = doc.get("resources") or {}
    flex_plans = {
        name
        for name, r in resources.items()
        if r["type"].lower() == "microsoft.web/serverfarms"
        and {str(v).lower() for v in (_body(r).get("sku") or {}).values()}
        & {"flexconsumption", "fc1"}
    }
    sites = []
    for name, r in resources.items():
        if r["type"].lower() != "microsoft.web/sites" or r.get("existing"):
            continue
        properties = _body(r).get("properties") or {}
        if "functionAppConfig" in properties or _plan_of(properties) in flex_plans:
            sites.append(name)
    return sites


def _plan_of(site_properties: Bicep) -> str | None:
    """The plan symbol of `serverFarmId: plan.id`, if that is how the site names it."""
    farm = site_properties.get("serverFarmId")
    if not (isinstance(farm, dict) and is_expression(farm) and "operator" in farm):
        return None
    return root_symbol(farm["operator"].get("operands", {}).get("operand_1"))


def _body(declared: Bicep) -> Bicep:
    """A resource's body without its loop and its condition."""
    body = declared["config"]
    while isinstance(body, dict) and "config" in body and ({"loop_type", "condition"} & set(body)):
        body = body["config"]
    return body if isinstance(body, dict) else {}


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
        properties = _body(doc["resources"][name]).get("properties") or {}
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
