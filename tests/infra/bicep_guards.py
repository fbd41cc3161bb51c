"""Offline checks for errors that only `bicep build` or Azure would otherwise catch (issue 16).

No Bicep compiler can run here, so these walk pycep's parse of each file:

* loop sources (BCP178), variable-loop bodies (BCP182) and resource conditions (BCP177) must be
  known when the deployment starts: no resource `properties`, module `outputs`, `reference()` or
  `list*()`, directly or through variables (here, with the reading of pycep's parse the other
  checks share);
* every property path a resource sets must exist in Microsoft's resource type definition for
  its exact API version (bicep_property_guards);
* a Flex Consumption site sets none of the properties and app settings Flex rejects
  (bicep_flex_guards).

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
