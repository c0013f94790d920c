"""Every rendered object is valid where it will land.

* Kubernetes kinds: kubernetes-validate against the official schemas of 1.30 and 1.33, strict
  (unknown fields are errors, as `kubectl apply` does with its default strict validation).
* Our own kinds (AcceleratorPool): our CRD's openAPIV3Schema (openapi-schema-validator), the
  same schema closed to unknown fields (strict field validation), the CRD's CEL rules
  (cel-python, after the API server's defaulting) and the pydantic model the operator reads.
* Third-party custom resources: listed below with the reason they are not schema-validated.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import pytest
from chartkit import Render
from crd_schema import crd_schemas, to_json_schema
from openapi_schema_validator import OAS30Validator

from infercost.api.v1alpha1 import AcceleratorPool, InferenceService

pytestmark = pytest.mark.chart

KUBERNETES_VERSIONS = ["1.30", "1.33"]

# (apiVersion, kind) -> why it is not validated against a schema here.
THIRD_PARTY: dict[tuple[str, str], str] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        "prometheus-operator's CRD schema ships with neither Kubernetes nor this repository; "
        "test_helm checks the fields that matter (selector, port, honorLabels, labels)"
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): (
        "prometheus-operator's CRD schema is not available offline; its spec is "
        "files/prometheus-rules.yaml, which promtool checks and unit-tests (test_promtool)"
    ),
}
OUR_MODELS: dict[tuple[str, str], type[AcceleratorPool] | type[InferenceService]] = {
    ("infercost.io/v1alpha1", "AcceleratorPool"): AcceleratorPool,
    ("infercost.io/v1alpha1", "InferenceService"): InferenceService,
}


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return (doc["apiVersion"], doc["kind"])


def _our_kinds() -> set[tuple[str, str]]:
    return set(crd_schemas())


def _ids(r: Render) -> list[str]:
    return [f"{d['kind']}/{d['metadata']['name']}" for d in r.docs]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("which", ["default", "all-on"])
def test_kubernetes_objects_validate_strictly(
    renders: dict[str, Render], which: str, version: str
) -> None:
    checked = 0
    for doc in renders[which].docs:
        if _key(doc) in THIRD_PARTY or _key(doc) in _our_kinds():
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} invalid on {version}: {e}")
        checked += 1
    assert checked >= 8, _ids(renders[which])


def test_every_rendered_object_is_validated_or_has_a_written_reason(
    renders: dict[str, Render],
) -> None:
    seen_third_party = set()
    for r in renders.values():
        for doc in r.docs:
            key = _key(doc)
            if key in THIRD_PARTY:
                seen_third_party.add(key)
                continue
            if key in _our_kinds():
                continue
            # A kind unknown to the Kubernetes schemas would raise here, not pass silently.
            kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
    assert seen_third_party == set(THIRD_PARTY), "a reason above names a kind never rendered"


def _apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What the API server's structural defaulting does before validation and CEL."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, sub in schema["properties"].items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = _apply_defaults(sub, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [_apply_defaults(schema["items"], item) for item in value]
    return value


def _cel_violations(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Evaluate the schema's x-kubernetes-validations with `self` bound, as the API server does."""
    found = []
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        if not program.evaluate({"self": celpy.json_to_cel(value)}):
            found.append(f"{path or '.'}: {rule['message']}")
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                found += _cel_violations(sub, value[name], f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += _cel_violations(schema["items"], item, f"{path}[{i}]")
    return found


def validate_custom_object(doc: dict[str, Any]) -> None:
    """Raise with the field named when `doc` is not a valid object of one of our CRDs."""
    schema = crd_schemas()[_key(doc)]
    defaulted = _apply_defaults(schema, doc)
    OAS30Validator(schema).validate(defaulted)
    jsonschema.Draft7Validator(to_json_schema(schema)).validate(defaulted)
    violations = _cel_violations(schema, defaulted)
    if violations:
        raise ValueError("; ".join(violations))
    OUR_MODELS[_key(doc)].model_validate(doc)


def test_accelerator_pools_from_values_are_valid_objects(all_on_render: Render) -> None:
    pools = all_on_render.of_kind("AcceleratorPool")
    assert pools
    for doc in pools:
        validate_custom_object(doc)


POOL = {
    "apiVersion": "infercost.io/v1alpha1",
    "kind": "AcceleratorPool",
    "metadata": {"name": "p"},
    "spec": {
        "accelerator": {"type": "nvidia-l4", "resourceName": "nvidia.com/gpu"},
        "pricing": {"hourlyPerNode": 0.8048},
    },
}


@pytest.mark.parametrize(
    ("spec_patch", "error"),
    [
        ({"pricing": {}}, "pricing.hourlyPerNode is required when pricing.source is Static"),
        ({"capacityType": "Preemptible"}, "Preemptible"),
        ({"acceleratorTypo": 1}, "acceleratorTypo"),
    ],
    ids=["cel-rule", "enum", "unknown-field"],
)
def test_custom_object_validation_catches_bad_pools(spec_patch: dict[str, Any], error: str) -> None:
    # The validator above must be able to fail: each layer on a pool it has to refuse.
    doc = copy.deepcopy(POOL)
    doc["spec"].update(spec_patch)
    with pytest.raises((jsonschema.ValidationError, ValueError)) as info:
        validate_custom_object(doc)
    assert error in str(info.value)
    validate_custom_object(POOL)
