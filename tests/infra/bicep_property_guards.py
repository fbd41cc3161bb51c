"""Every property path a resource sets must exist in Microsoft's resource type definition for its
exact API version (an allowlist taken from those definitions, resource_types.json), through
variables and the array/object combinators too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.infra.bicep_guards import MAX_DEPTH, Bicep, Declarations, is_expression, plain_key

#: Bicep's own resource keys, not ARM properties of the type.
LANGUAGE_KEYS = frozenset({"parent", "scope", "dependsOn"})
#: A free-form map in resource_types.json: any key, values unchecked (tags, metadata, ...).
ANY_KEYS = "*"


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


def resource_body(declared: Bicep) -> Bicep:
    """A resource's body without its loop and its condition."""
    body = declared["config"]
    while isinstance(body, dict) and "config" in body and ({"loop_type", "condition"} & set(body)):
        body = body["config"]
    return body if isinstance(body, dict) else {}


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
        if only is not None and resource_body(declared).get("name") != only:
            findings.append(
                f"{name}: {kind} is in the allowlist for the name '{only}' only "
                "(add the other name's properties from its definition)"
            )
            continue
        findings += _walk(
            resource_body(declared), allowlist[kind]["schema"], f"{name} ({kind})", shapes, top=True
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
