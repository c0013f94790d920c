"""The generated CRDs are what Kubernetes accepts: structural schemas, bounded CEL inputs,
descriptions for `kubectl explain`, printer columns, names and subresources."""

from __future__ import annotations

import copy
import re
from typing import Any

import celpy
import kubernetes_validate
import pytest
from tests.support.crdcheck import CRD_DIR, load_crds, schema_of, walk_schema

pytestmark = pytest.mark.unit

KINDS = sorted(load_crds())
# Keywords a structural schema may not carry at all (or, for the unions, not here: they are
# allowed only under strict conditions we do not need).
FORBIDDEN_KEYS = {
    "$ref",
    "$defs",
    "definitions",
    "title",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "const",
    "discriminator",
    "uniqueItems",
    "examples",
    "$schema",
    "prefixItems",
}
TYPES = {"object", "array", "string", "integer", "number", "boolean"}
# Kubernetes allows only these under the root `metadata` (and describes it itself).
ROOT_OWNED = {".metadata"}


def _nodes(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return list(walk_schema(schema_of(kind)))


def test_every_kind_is_generated() -> None:
    assert KINDS == ["AcceleratorPool", "BudgetPolicy", "InferenceService"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_node_is_typed_or_int_or_string(kind: str) -> None:
    untyped = [
        path
        for path, node in _nodes(kind)
        if node.get("type") not in TYPES and not node.get("x-kubernetes-int-or-string")
    ]
    assert untyped == []


@pytest.mark.parametrize("kind", KINDS)
def test_int_or_string_nodes_carry_no_type(kind: str) -> None:
    both = [p for p, n in _nodes(kind) if n.get("x-kubernetes-int-or-string") and "type" in n]
    assert both == []


@pytest.mark.parametrize("kind", KINDS)
def test_no_keyword_a_structural_schema_refuses(kind: str) -> None:
    found = [(path, sorted(FORBIDDEN_KEYS & node.keys())) for path, node in _nodes(kind)]
    assert [entry for entry in found if entry[1]] == []


@pytest.mark.parametrize("kind", KINDS)
def test_additional_properties_never_beside_properties(kind: str) -> None:
    both = [p for p, n in _nodes(kind) if "properties" in n and "additionalProperties" in n]
    assert both == []
    assert all(n.get("additionalProperties") is not False for _, n in _nodes(kind))


# The only open nodes: a pod volume's source (api/podparts.py PodVolume says why); its name
# stays typed and checked.
OPEN_NODES = {
    "InferenceService": {".spec.pod.volumes[]", ".spec.variants[].pod.volumes[]"},
    "AcceleratorPool": set(),
    "BudgetPolicy": set(),
}


@pytest.mark.parametrize("kind", KINDS)
def test_no_field_keeps_unknown_fields_but_a_volume_source(kind: str) -> None:
    open_nodes = [p for p, n in _nodes(kind) if n.get("x-kubernetes-preserve-unknown-fields")]
    assert set(open_nodes) == OPEN_NODES[kind]
    for path in open_nodes:
        node = dict(_nodes(kind))[path]
        assert node["required"] == ["name"]
        assert node["properties"]["name"]["type"] == "string"


@pytest.mark.parametrize("kind", KINDS)
def test_exclusive_bounds_are_openapi_3_0_booleans_beside_a_bound(kind: str) -> None:
    for path, node in _nodes(kind):
        for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if flag in node:
                assert node[flag] is True, path
                assert isinstance(node.get(bound), int | float), path


@pytest.mark.parametrize("kind", KINDS)
def test_null_is_only_ever_declared_through_nullable(kind: str) -> None:
    for path, node in _nodes(kind):
        assert node.get("type") != "null", path
        assert node.get("default", "") is not None or node.get("nullable"), path


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_has_a_description_for_kubectl_explain(kind: str) -> None:
    schema = schema_of(kind)
    missing = [
        path
        for path, node in walk_schema(schema)
        if path and path not in ROOT_OWNED and _is_property(path) and not node.get("description")
    ]
    assert missing == []
    assert schema["description"]


def _is_property(path: str) -> bool:
    # Items of arrays and values of maps are described by their parent property.
    return not path.endswith(("[]", "{}"))


@pytest.mark.parametrize("kind", KINDS)
def test_root_metadata_is_left_to_kubernetes(kind: str) -> None:
    assert schema_of(kind)["properties"]["metadata"] == {"type": "object"}


@pytest.mark.parametrize("kind", KINDS)
def test_spec_inputs_are_bounded_so_cel_cost_estimation_passes(kind: str) -> None:
    # The API server estimates each rule's worst-case cost from maxItems/maxLength/maxProperties;
    # an unbounded list or string under spec makes that estimate explode.
    unbounded = []
    for path, node in walk_schema(schema_of(kind)["properties"]["spec"], ".spec"):
        kind_of = node.get("type")
        if kind_of == "array" and "maxItems" not in node:
            unbounded.append(path)
        if kind_of == "string" and "maxLength" not in node and "enum" not in node:
            unbounded.append(path)
        if kind_of == "object" and "additionalProperties" in node and "maxProperties" not in node:
            unbounded.append(path)
    assert unbounded == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_cel_rule_compiles_has_a_message_and_points_at_a_real_field(kind: str) -> None:
    environment = celpy.Environment()
    rules = 0
    for path, node in _nodes(kind):
        for rule in node.get("x-kubernetes-validations", []):
            rules += 1
            environment.compile(rule["rule"])
            assert rule["message"], path
            field = rule.get("fieldPath", "")
            assert re.fullmatch(r"(\.[A-Za-z]\w*)*", field), field
            target = node
            for part in filter(None, field.split(".")):
                target = target["properties"][part]
            assert node.get("type") == "object", f"{path}: rules sit on objects here"
    assert rules > 0


def test_service_rules_cover_the_cross_field_checks_of_the_issue() -> None:
    rules = {
        r["rule"]
        for _, n in _nodes("InferenceService")
        for r in n.get("x-kubernetes-validations", [])
    }
    assert {
        "self.minReplicas <= self.maxReplicas",
        "size(self.variants) >= 1",
        "self.profile.all(p, p.acceleratorType in self.acceleratorTypes)",
        "self.mode != 'Fixed' || has(self.maxBatchSize)",
        "self.variants.all(v, self.variants.exists_one(w, w.name == v.name))",
    } <= rules


def _version(kind: str) -> dict[str, Any]:
    (version,) = load_crds()[kind]["spec"]["versions"]
    return version


def test_inference_service_names_scope_and_status() -> None:
    spec = load_crds()["InferenceService"]["spec"]
    assert spec["group"] == "infercost.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["plural"] == "inferenceservices"
    assert spec["names"]["shortNames"] == ["ics"]
    assert "infercost" in spec["names"]["categories"]
    assert _version("InferenceService")["subresources"] == {"status": {}}


def test_accelerator_pool_is_cluster_scoped_with_status() -> None:
    spec = load_crds()["AcceleratorPool"]["spec"]
    assert spec["scope"] == "Cluster"
    assert "infercost" in spec["names"]["categories"]
    assert _version("AcceleratorPool")["subresources"] == {"status": {}}


def _columns(kind: str) -> dict[str, str]:
    return {c["name"]: c["jsonPath"] for c in _version(kind)["additionalPrinterColumns"]}


def test_inference_service_printer_columns() -> None:
    columns = _columns("InferenceService")
    assert columns["Pools"] == ".status.pools"
    assert columns["Replicas"] == ".status.replicas"
    assert columns["P99-ms"] == ".status.observed.p99LatencyMs"
    assert columns["$/h"] == ".status.cost.hourly"
    assert columns["$/1M"] == ".status.cost.perMillionInferences"
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Mode"] == ".spec.mode"
    assert columns["Saving-$/h"] == ".status.advice.savingPerHour"


def test_accelerator_pool_printer_columns() -> None:
    columns = _columns("AcceleratorPool")
    assert columns["Accelerator"] == ".spec.accelerator.type"
    assert columns["Capacity"] == ".spec.capacityType"
    assert columns["$/Node-h"] == ".spec.pricing.hourlyPerNode"


@pytest.mark.parametrize("kind", KINDS)
def test_printer_columns_point_at_fields_of_the_schema(kind: str) -> None:
    paths = {path for path, _ in _nodes(kind)}
    for name, json_path in _columns(kind).items():
        if json_path.startswith(".metadata"):
            continue
        field = json_path.split("[", 1)[0]
        assert field in paths, f"{name}: {json_path}"


def test_chart_copy_equals_crds_folder() -> None:
    chart = CRD_DIR.parent / "charts" / "infercost" / "crds"
    for path in CRD_DIR.glob("*.yaml"):
        assert (chart / path.name).read_text() == path.read_text(), path.name


# Kubernetes 1.30 is the oldest release this project supports (CEL rules with fieldPath and
# their cost estimation are stable there); 1.33 is a recent one.
@pytest.mark.parametrize("version", ["1.30", "1.33"])
@pytest.mark.parametrize("kind", KINDS)
def test_crd_is_a_valid_apiextensions_v1_object(kind: str, version: str) -> None:
    # The official CustomResourceDefinition schema, strict: it types every JSONSchemaProps
    # keyword (e.g. exclusiveMinimum must be a boolean) and refuses unknown ones.
    kubernetes_validate.validate(load_crds()[kind], version, strict=True)


def test_the_kubernetes_crd_schema_refuses_a_json_schema_2020_bound() -> None:
    crd = copy.deepcopy(load_crds()["InferenceService"])
    percentile = _version_of(crd)["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "slo"
    ]["properties"]["percentile"]
    percentile["exclusiveMaximum"] = 100
    with pytest.raises(kubernetes_validate.ValidationError, match="boolean"):
        kubernetes_validate.validate(crd, "1.33", strict=True)


def _version_of(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    result: dict[str, Any] = version
    return result
