"""Every rendered object is valid where it will land.

* Kubernetes kinds: kubernetes-validate against the official schemas of 1.30 and 1.33, strict
  (unknown fields are errors, as `kubectl apply` does with its default strict validation).
* Our own kinds (AcceleratorPool, InferenceService): our CRD's openAPIV3Schema
  (openapi-schema-validator), strict unknown-field checks, the CRD's CEL rules (cel-python,
  after the API server's defaulting) — tests.support.crdcheck — and the pydantic model the
  operator reads.
* Third-party custom resources: listed below with the reason they are not schema-validated.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from chartkit import Render
from crd_schema import crd_schemas, to_json_schema
from tests.support import crdcheck

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


def validate_custom_object(doc: dict[str, Any]) -> None:
    """Raise with the fields named when `doc` is not a valid object of one of our CRDs.

    tests.support.crdcheck does what the API server does on create (defaulting, OpenAPI
    schema, strict unknown-field check, CEL rules); the pydantic model is what the operator
    reads. Both must accept the object.
    """
    assert _key(doc) in _our_kinds(), _key(doc)
    errors = crdcheck.api_server_errors(doc) + crdcheck.pydantic_errors(doc)
    if errors:
        raise ValueError(f"{doc['kind']}/{doc['metadata']['name']}: " + "; ".join(errors))


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
    with pytest.raises(ValueError, match="spec") as info:
        validate_custom_object(doc)
    assert error in str(info.value)
    validate_custom_object(POOL)
    # values.schema.json's copy of the pool schema (draft-07, without the CEL rules, which
    # only the API server evaluates) refuses the schema-level mistakes at `helm install` too.
    closed = jsonschema.Draft7Validator(to_json_schema(crd_schemas()[_key(doc)]))
    assert closed.is_valid(doc) == ("pricing.hourlyPerNode" in error)
