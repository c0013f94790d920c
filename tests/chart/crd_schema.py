"""Our CRDs' openAPIV3Schema, for the chart: custom-object validation and values.schema.json.

The chart's values.schema.json carries the AcceleratorPool spec schema (the `acceleratorPools`
value) converted from the generated CRD, so `helm install` refuses a bad pool before the API
server sees it. A test keeps the two equal; after `infercost crds` changed the CRD, rewrite it:

    .venv/bin/python tests/chart/crd_schema.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "infercost"
CRDS = CHART / "crds"
VALUES_SCHEMA = CHART / "values.schema.json"
POOL_SPEC_DEF = "acceleratorPoolSpec"


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of our CRDs."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            out[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return out


def to_json_schema(node: Any) -> Any:
    """A structural OpenAPI v3 schema as JSON Schema draft-07, closed to unknown fields.

    `nullable` becomes a "null" type; boolean exclusive bounds become numeric ones; Kubernetes extensions (x-kubernetes-*, including CEL
    rules, which tests evaluate separately) are dropped; every object with declared properties
    gets additionalProperties false, as the chart's values refuse unknown keys everywhere.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: to_json_schema(value)
        for key, value in node.items()
        if not key.startswith("x-kubernetes-") and key != "nullable"
    }
    if "properties" in node:
        out["properties"] = {name: to_json_schema(s) for name, s in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    # OpenAPI 3.0 (Kubernetes) says `maximum: 100, exclusiveMaximum: true`; draft-07 says
    # `exclusiveMaximum: 100`.
    for bound, limit in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        if out.get(bound) is True:
            out[bound] = out.pop(limit)
        elif out.get(bound) is False:
            del out[bound]
    if node.get("nullable"):
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def pool_spec_schema() -> dict[str, Any]:
    schema = crd_schemas()[("infercost.io/v1alpha1", "AcceleratorPool")]
    converted: dict[str, Any] = to_json_schema(schema["properties"]["spec"])
    return converted


def rewrite_values_schema() -> bool:
    """Put the CRD's pool spec into values.schema.json; True when the file changed."""
    text = VALUES_SCHEMA.read_text()
    values_schema = json.loads(text)
    values_schema["definitions"][POOL_SPEC_DEF] = pool_spec_schema()
    new = json.dumps(values_schema, indent=2) + "\n"
    VALUES_SCHEMA.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = rewrite_values_schema()
    print(f"{VALUES_SCHEMA.relative_to(ROOT)}: {'updated' if changed else 'already in sync'}")
    sys.exit(0)
