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

The schema and CEL checks themselves live in `infercost.sandbox.crdschema`, where the
sandbox API server validates every write of a custom resource with them; they are
re-exported here for the tests.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from infercost.api.v1alpha1 import KINDS
from infercost.sandbox.crdschema import (
    CelCheck,
    Schema,
    cel_checks,
    cel_errors,
    dotted,
    prepare,
    schema_errors,
    to_cel,
    unknown_fields,
)

__all__ = ["CelCheck", "cel_checks", "cel_errors", "prepare", "schema_errors", "to_cel"]
__all__ += ["Schema", "unknown_fields"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRD_DIR = ROOT / "crds"
DATA = ROOT / "data"  # traces, prices and throughput figures the examples cite

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
        return [f"{dotted(error['loc'])}: {error['msg']}" for error in exc.errors()]
    return []
