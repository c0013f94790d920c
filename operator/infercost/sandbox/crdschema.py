"""A custom resource checked against its CRD's structural schema, as the API server does.

Shared by the sandbox API server (every write of a custom resource) and the tests
(tests/support/crdcheck.py). For one object and a CRD version's `openAPIV3Schema`:

1. `prepare`: drop `null` values of fields that are not `nullable` and apply structural
   defaults, as the API server does before validation;
2. `prune`: remove fields the schema does not declare (unless a node keeps them with
   `x-kubernetes-preserve-unknown-fields`), as a real server prunes structural schemas;
   `unknown_fields` names them instead, for strict field validation;
3. `schema_errors`: OpenAPI 3.0 violations (`openapi-schema-validator`, which knows
   `nullable` and boolean `exclusiveMinimum`), plus the unknown fields;
4. `cel_checks`: every `x-kubernetes-validations` rule evaluated with cel-python at every
   node its schema applies to, inside arrays and maps too, with null fields absent.

Validators and CEL programs are compiled once per schema and rule (the sandbox validates
every write of a 1,000-service benchmark).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

Schema = dict[str, Any]


@dataclass(frozen=True)
class CelCheck:
    """One rule evaluated at one node of one object."""

    path: str
    rule: str
    message: str
    field_path: str
    passed: bool
    error: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}{self.field_path}"
        detail = f" (rule could not be evaluated: {self.error})" if self.error else ""
        return f"{where}: {self.message}{detail}"


def prepare(schema: Schema, value: Any) -> Any:
    """A copy of `value` with non-nullable nulls pruned and structural defaults applied."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is not None:
            out = {}
            for key, item in value.items():
                child = properties.get(key, {})
                if item is None and not child.get("nullable", False):
                    continue
                out[key] = prepare(child, item)
            for key, child in properties.items():
                if key not in out and "default" in child:
                    out[key] = prepare(child, copy.deepcopy(child["default"]))
            return out
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return {key: prepare(extra, item) for key, item in value.items()}
        return copy.deepcopy(value)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prepare(schema["items"], item) for item in value]
    return copy.deepcopy(value)


def prune(schema: Schema, value: Any) -> Any:
    """`value` without the fields the structural schema does not declare."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if properties is not None:
            return {k: prune(properties[k], v) for k, v in value.items() if k in properties}
        if isinstance(extra, dict):
            return {key: prune(extra, item) for key, item in value.items()}
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], item) for item in value]
    return value


def unknown_fields(schema: Schema, value: Any, path: str = "") -> list[str]:
    """Fields the schema does not declare (what strict field validation rejects)."""
    found: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return found
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                found += unknown_fields(properties[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(extra, item, f"{path}[{key}]")
            elif properties is not None:
                found.append(f'{path.lstrip(".")}: unknown field "{key}"')
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(schema["items"], item, f"{path}[{index}]")
    return found


def schema_errors(schema: Schema, body: dict[str, Any]) -> list[str]:
    """OpenAPI 3.0 violations and unknown fields of the prepared object, each with its path."""
    prepared = prepare(schema, body)
    return type_errors(schema, prepared) + unknown_fields(schema, prepared)


def type_errors(schema: Schema, prepared: dict[str, Any]) -> list[str]:
    """OpenAPI 3.0 violations of an already prepared object, each with its path."""
    validator = _validator(schema)
    return [
        f"{dotted(error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(prepared)
    ]


# id(schema) -> (schema, validator): the schema is kept so its id is never reused.
_VALIDATORS: dict[int, tuple[Schema, OAS30Validator]] = {}


def _validator(schema: Schema) -> OAS30Validator:
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        validator = OAS30Validator(_with_int_or_string(schema), format_checker=oas30_format_checker)
        cached = _VALIDATORS[id(schema)] = (schema, validator)
    return cached[1]


def _with_int_or_string(schema: Any) -> Any:
    """`schema` with `x-kubernetes-int-or-string` spelled out as the API server applies it:
    an integer or a string, nothing else (OpenAPI itself gives the extension no meaning)."""
    if isinstance(schema, list):
        return [_with_int_or_string(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _with_int_or_string(value) for key, value in schema.items()}
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


_NO_OLD_VALUE = object()  # a node the update adds: evaluated


def cel_checks(
    schema: Schema, body: dict[str, Any], *, old: dict[str, Any] | None = None
) -> list[CelCheck]:
    """Every CEL rule evaluated at every node of the (prepared) object it applies to.

    With `old` (the stored object an update replaces), nodes whose value the update leaves
    unchanged are not evaluated: Kubernetes ratchets such errors away (CRDValidationRatcheting,
    on by default since 1.30, for rules without `oldSelf`), so their checks could never refuse
    the update, and evaluating them is most of a status write's cost.
    """
    checks: list[CelCheck] = []
    _visit(schema, prepare(schema, body), "", checks, _NO_OLD_VALUE if old is None else old)
    return checks


def cel_errors(schema: Schema, body: dict[str, Any]) -> list[str]:
    return [str(check) for check in cel_checks(schema, body) if not check.passed]


def _visit(node: Schema, value: Any, path: str, checks: list[CelCheck], old: Any) -> None:
    if value is None or (old is not _NO_OLD_VALUE and value == old):
        return
    for rule in node.get("x-kubernetes-validations", []):
        checks.append(_evaluate(rule, node, value, path.lstrip(".")))
    if isinstance(value, dict):
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        olds = old if isinstance(old, dict) else {}
        for key, item in value.items():
            was = olds.get(key, _NO_OLD_VALUE)
            if properties is not None and key in properties:
                _visit(properties[key], item, f"{path}.{key}", checks, was)
            elif isinstance(extra, dict):
                _visit(extra, item, f"{path}[{key}]", checks, was)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        olds_list = old if isinstance(old, list) else []
        for index, item in enumerate(value):
            was = olds_list[index] if index < len(olds_list) else _NO_OLD_VALUE
            _visit(node["items"], item, f"{path}[{index}]", checks, was)


def _evaluate(rule: Schema, node: Schema, value: Any, path: str) -> CelCheck:
    check = functools.partial(
        CelCheck,
        path=path,
        rule=rule["rule"],
        message=rule.get("message", f"failed rule: {rule['rule']}"),
        field_path=rule.get("fieldPath", ""),
    )
    try:
        result = _program(rule["rule"]).evaluate({"self": to_cel(node, value)})
    except CELEvalError as exc:
        return check(passed=False, error=str(exc))
    if isinstance(result, CELEvalError):  # returned, not raised
        return check(passed=False, error=str(result))  # type: ignore[unreachable]
    return check(passed=bool(result))


@functools.cache
def _program(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def to_cel(node: Schema, value: Any) -> celtypes.Value:
    """`value` as CEL sees it: typed by the schema (a `number` 2 is the double 2.0), nulls absent."""
    if isinstance(value, dict):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        return celtypes.MapType(
            {
                celtypes.StringType(key): to_cel(
                    properties.get(key, extra if isinstance(extra, dict) else {}), item
                )
                for key, item in value.items()
                if item is not None
            }
        )
    if isinstance(value, list):
        items = node.get("items", {})
        return celtypes.ListType([to_cel(items, item) for item in value])
    if node.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return celtypes.DoubleType(value)
    return json_to_cel(value)


def dotted(location: Any) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")
