"""Check custom resources the way the Kubernetes API server would, without an API server.

Shared by the API, CRD and example tests and by later property-based tests. For one object
and the `openAPIV3Schema` of its checked-in CRD it does what a create request goes through:

1. prune `null` values of fields that are not `nullable` and apply structural defaults
   (`prepare`), as the API server does before validation;
2. validate against the OpenAPI 3.0 schema (`openapi-schema-validator`, which knows
   `nullable` and boolean `exclusiveMinimum`) and refuse fields the schema does not know,
   as `kubectl apply` does with its default `--validate=strict` (`schema_errors`);
3. evaluate every `x-kubernetes-validations` rule with cel-python at every node its schema
   applies to, inside arrays and maps too, with null fields absent as Kubernetes documents
   (`cel_checks`).

The pydantic side (`pydantic_errors`) gives the verdict `infercost plan` gives, so tests can
demand the same verdict from both.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import yaml
from celpy import celtypes
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from pydantic import BaseModel, ValidationError

from infercost.api.v1alpha1 import KINDS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRD_DIR = ROOT / "crds"
DATA = ROOT / "data"  # traces, prices and throughput figures the examples cite

Schema = dict[str, Any]
MODELS: dict[str, type[BaseModel]] = {kind.kind_name: kind for kind in KINDS}


@dataclass(frozen=True)
class Example:
    """One document of an example file."""

    path: Path
    index: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}#{self.index}"


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


def load_examples(folder: Path = EXAMPLES) -> list[Example]:
    """Every YAML document under `folder`, in a stable order."""
    examples = []
    for path in sorted(folder.rglob("*.yaml")):
        for index, body in enumerate(yaml.safe_load_all(path.read_text())):
            if body is not None:
                examples.append(Example(path=path, index=index, body=body))
    return examples


@functools.cache
def load_crds(folder: Path = CRD_DIR) -> dict[str, Schema]:
    """Kind -> checked-in CustomResourceDefinition."""
    crds = {}
    for path in sorted(folder.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        crds[crd["spec"]["names"]["kind"]] = crd
    return crds


def schema_of(kind: str) -> Schema:
    """The `openAPIV3Schema` of the (only) version of `kind`'s CRD."""
    (version,) = load_crds()[kind]["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


def walk_schema(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its path (`.spec.variants[].name`, `.spec.nodeSelector{}`)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk_schema(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk_schema(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk_schema(node["additionalProperties"], f"{path}{{}}")


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


def schema_errors(schema: Schema, body: dict[str, Any]) -> list[str]:
    """OpenAPI 3.0 violations and unknown fields of the prepared object, each with its path."""
    prepared = prepare(schema, body)
    validator = OAS30Validator(_with_int_or_string(schema), format_checker=oas30_format_checker)
    errors = [
        f"{_dotted(error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(prepared)
    ]
    return errors + unknown_fields(schema, prepared)


def _with_int_or_string(schema: Schema) -> Schema:
    """`schema` with `x-kubernetes-int-or-string` spelled out as the API server applies it:
    an integer or a string, nothing else (OpenAPI itself gives the extension no meaning)."""
    if isinstance(schema, list):
        return [_with_int_or_string(item) for item in schema]  # type: ignore[return-value]
    if not isinstance(schema, dict):
        return schema
    out = {key: _with_int_or_string(value) for key, value in schema.items()}
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


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


def cel_checks(schema: Schema, body: dict[str, Any]) -> list[CelCheck]:
    """Every CEL rule evaluated at every node of the (prepared) object it applies to."""
    checks: list[CelCheck] = []
    _visit(schema, prepare(schema, body), "", checks)
    return checks


def cel_errors(schema: Schema, body: dict[str, Any]) -> list[str]:
    return [str(check) for check in cel_checks(schema, body) if not check.passed]


def api_server_errors(body: dict[str, Any]) -> list[str]:
    """What the API server would answer to a create of `body`; empty when it is accepted.

    CEL rules run only on objects the schema accepts: their types are then the declared
    ones, which is what the rules were written (and cost-estimated) for.
    """
    schema = schema_of(body["kind"])
    errors = schema_errors(schema, body)
    return errors or cel_errors(schema, body)


def pydantic_errors(body: dict[str, Any]) -> list[str]:
    """What the pydantic model says about `body` (what `infercost plan` reports)."""
    try:
        MODELS[body["kind"]].model_validate(body)
    except ValidationError as exc:
        return [f"{_dotted(error['loc'])}: {error['msg']}" for error in exc.errors()]
    return []


def _visit(node: Schema, value: Any, path: str, checks: list[CelCheck]) -> None:
    if value is None:
        return
    for rule in node.get("x-kubernetes-validations", []):
        checks.append(_evaluate(rule, node, value, path.lstrip(".")))
    if isinstance(value, dict):
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                _visit(properties[key], item, f"{path}.{key}", checks)
            elif isinstance(extra, dict):
                _visit(extra, item, f"{path}[{key}]", checks)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _visit(node["items"], item, f"{path}[{index}]", checks)


def _evaluate(rule: Schema, node: Schema, value: Any, path: str) -> CelCheck:
    check = functools.partial(
        CelCheck,
        path=path,
        rule=rule["rule"],
        message=rule["message"],
        field_path=rule.get("fieldPath", ""),
    )
    try:
        result = _program(rule["rule"]).evaluate({"self": to_cel(node, value)})
    except celpy.CELEvalError as exc:
        return check(passed=False, error=str(exc))
    if isinstance(result, celpy.CELEvalError):
        return check(passed=False, error=str(result))
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
    return celpy.json_to_cel(value)


def _dotted(location: Any) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")
