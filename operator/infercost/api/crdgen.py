"""Generate structural `apiextensions.k8s.io/v1` CRDs from the pydantic models.

Kubernetes accepts only structural schemas: every node typed, no `$ref`, no `anyOf` with
null (nullable instead), no titles. The pydantic JSON schema is rewritten into that form.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from infercost.api.v1alpha1 import GROUP, KINDS, VERSION

Schema = dict[str, Any]
# JSON-schema keywords Kubernetes does not accept in a structural schema.
_DROPPED_KEYS = ("title", "$defs", "const", "discriminator")


def crd_for(kind: type[BaseModel]) -> Schema:
    """The CustomResourceDefinition of one kind, as a plain dict ready for YAML."""
    schema = kind.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.get("$defs", {})
    properties = schema["properties"]
    spec = _structural(properties["spec"], definitions)
    status = _structural(properties["status"], definitions)
    status.pop("nullable", None)
    root: Schema = {
        "type": "object",
        "description": kind.__doc__ or "",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of the object."},
            "kind": {"type": "string", "description": "Kind of the object."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    names: Schema = {
        "kind": kind.kind_name,  # type: ignore[attr-defined]
        "listKind": f"{kind.kind_name}List",  # type: ignore[attr-defined]
        "plural": kind.plural,  # type: ignore[attr-defined]
        "singular": kind.singular,  # type: ignore[attr-defined]
        "shortNames": list(kind.short_names),  # type: ignore[attr-defined]
        "categories": ["infercost"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},  # type: ignore[attr-defined]
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced" if kind.namespaced else "Cluster",  # type: ignore[attr-defined]
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.printer_columns),  # type: ignore[attr-defined]
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def all_crds() -> dict[str, Schema]:
    """File name -> CRD for every kind of the API."""
    return {f"{GROUP}_{kind.plural}.yaml": crd_for(kind) for kind in KINDS}


def _structural(node: Schema, definitions: Schema) -> Schema:
    """Inline references, turn `anyOf [X, null]` into nullable X, drop what Kubernetes refuses."""
    node = dict(node)
    if "$ref" in node:
        target = definitions[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if "anyOf" in node:
        choices = [choice for choice in node.pop("anyOf") if choice.get("type") != "null"]
        if len(choices) != 1:
            raise ValueError(f"cannot express a union of {len(choices)} types structurally: {node}")
        node = {**_structural(choices[0], definitions), **node, "nullable": True}
        if node.get("default", ...) is None:
            del node["default"]
    for key in _DROPPED_KEYS:
        node.pop(key, None)
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    if "properties" in node:
        node["properties"] = {
            name: _structural(child, definitions) for name, child in node["properties"].items()
        }
        node.setdefault("type", "object")
    if node.get("additionalProperties") is True:
        # An open model (extra="allow", e.g. a volume's source): the API server keeps what it
        # does not know instead of pruning it; the declared properties stay typed.
        del node["additionalProperties"]
        node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("additionalProperties") is False:
        # Structural schemas forbid it beside `properties`; the API server prunes unknown fields.
        del node["additionalProperties"]
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _structural(node["additionalProperties"], definitions)
    if "items" in node:
        node["items"] = _structural(node["items"], definitions)
    _exclusive_bounds_as_flags(node)
    return node


def _exclusive_bounds_as_flags(node: Schema) -> None:
    """JSON Schema 2020-12 `exclusiveMinimum: 0` -> OpenAPI 3.0 `minimum: 0, exclusiveMinimum: true`.

    Kubernetes' JSONSchemaProps declares exclusiveMinimum/exclusiveMaximum as booleans; a
    number there makes the API server refuse the whole CRD.
    """
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        value = node.get(exclusive)
        if value is None or isinstance(value, bool):
            continue
        if bound in node:
            raise ValueError(f"both {bound} and {exclusive} on one field: {node}")
        node[bound] = value
        node[exclusive] = True
