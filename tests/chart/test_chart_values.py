"""values.yaml against values.schema.json: the defaults pass, bad values are refused by helm
itself with a message naming the field, and the schema is closed to unknown keys everywhere."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from chartkit import ALL_ON, CHART, helm_template, run, tool
from crd_schema import POOL_SPEC_DEF, VALUES_SCHEMA, pool_spec_schema

pytestmark = pytest.mark.chart

SCHEMA = json.loads(VALUES_SCHEMA.read_text())
# Helm globals: a parent chart may set any key there, so it stays open (this chart reads none).
OPEN_ON_PURPOSE = {"/properties/global"}


def _object_schemas(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        types = node.get("type")
        if types == "object" or (isinstance(types, list) and "object" in types):
            found.append((path, node))
        for key, value in node.items():
            found += _object_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _object_schemas(value, f"{path}/{i}")
    return found


def test_default_and_all_on_values_validate_against_the_schema() -> None:
    validator = jsonschema.Draft7Validator(SCHEMA)
    for path in (CHART / "values.yaml", ALL_ON):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path.name


def test_schema_is_closed_to_unknown_keys_everywhere() -> None:
    objects = _object_schemas(SCHEMA)
    assert len(objects) > 40
    for path, node in objects:
        if path in OPEN_ON_PURPOSE:
            continue
        closed = node.get("additionalProperties")
        # false, or a schema for the values of a map (labels, nodeSelector): never "anything".
        assert closed is False or isinstance(closed, dict), f"{path} accepts unknown keys"


def test_pool_spec_schema_is_the_crd_schema() -> None:
    assert SCHEMA["definitions"][POOL_SPEC_DEF] == pool_spec_schema(), (
        "values.schema.json's pool spec differs from the AcceleratorPool CRD: run "
        "`.venv/bin/python tests/chart/crd_schema.py`"
    )


def test_every_documented_value_has_a_schema_entry() -> None:
    def keys(values: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        for key, value in values.items():
            sub = schema["properties"].get(key)
            assert sub is not None, f"{path}{key} has no schema"
            if "$ref" in sub:
                sub = SCHEMA["definitions"][sub["$ref"].rsplit("/", 1)[1]]
            if isinstance(value, dict) and "properties" in sub:
                keys(value, sub, f"{path}{key}.")

    keys(yaml.safe_load((CHART / "values.yaml").read_text()), SCHEMA, "")


# (helm --set arguments, what the error must say). Each is a mistake a user makes.
BAD_VALUES = [
    (["operator.controlIntervalSeconds=0"], "/operator/controlIntervalSeconds': minimum: got 0"),
    (
        ["operator.controlIntervalSecs=15"],
        "additional properties 'controlIntervalSecs' not allowed",
    ),
    (["operator.metricsPort=70000"], "/operator/metricsPort': maximum: got 70,000"),
    (["operator.watchNamespace=ML_Team"], "/operator/watchNamespace': 'ML_Team' does not match"),
    (["operator.dryRun=maybe"], "/operator/dryRun': got string, want boolean"),
    (["operator.prometheus.url=prometheus:9090"], "/operator/prometheus/url'"),
    (
        ["operator.prometheus.auth.type=OAuth"],
        "/operator/prometheus/auth/type': value must be one of",
    ),
    (["image.pullPolicy=Sometimes"], "/image/pullPolicy': value must be one of"),
    (["image.digest=latest"], "/image/digest': 'latest' does not match"),
    (["image.repository="], "/image/repository': minLength"),
    (["resources.limits.cpu=lots"], "/resources/limits/cpu': 'lots' does not match"),
    (["resources.limits.gpu=1"], "additional properties 'gpu' not allowed"),
    (["tolerations[0].operator=Maybe"], "/tolerations/0/operator': value must be one of"),
    (["metrics.serviceMonitor.interval=30 seconds"], "/metrics/serviceMonitor/interval'"),
    (["metrics.serviceMonitor.enable=true"], "additional properties 'enable' not allowed"),
    (
        ["grafanaDashboard.labels.grafana_dashboard=1"],
        "/grafanaDashboard/labels/grafana_dashboard'",
    ),
    (
        ["acceleratorPools[0].name=Bad_Name", "acceleratorPools[0].spec.pricing.hourlyPerNode=1"],
        "/acceleratorPools/0/name': 'Bad_Name' does not match",
    ),
    (
        [
            "acceleratorPools[0].name=p",
            "acceleratorPools[0].spec.accelerator.type=nvidia-l4",
            "acceleratorPools[0].spec.accelerator.resourceName=nvidia.com/gpu",
            "acceleratorPools[0].spec.pricing.hourlyPerNode=-1",
        ],
        "/acceleratorPools/0/spec/pricing/hourlyPerNode': minimum: got -1",
    ),
    (
        [
            "acceleratorPools[0].name=p",
            "acceleratorPools[0].spec.accelerator.type=nvidia-l4",
            "acceleratorPools[0].spec.accelerator.resourceName=nvidia.com/gpu",
            "acceleratorPools[0].spec.pricing.hourlyPerNode=1",
            "acceleratorPools[0].spec.capacityType=Reserved",
        ],
        "/acceleratorPools/0/spec/capacityType': value must be one of",
    ),
    (
        [
            "acceleratorPools[0].name=p",
            "acceleratorPools[0].spec.accelerator.type=nvidia-l4",
            "acceleratorPools[0].spec.accelerator.resourceName=nvidia.com/gpu",
            "acceleratorPools[0].spec.pricing.hourlyPerNode=1",
            "acceleratorPools[0].spec.gpus=4",
        ],
        "additional properties 'gpus' not allowed",
    ),
    # Rules across fields that a schema cannot phrase well: the template says what to do.
    (
        [
            "acceleratorPools[0].name=p",
            "acceleratorPools[0].spec.accelerator.type=nvidia-l4",
            "acceleratorPools[0].spec.accelerator.resourceName=nvidia.com/gpu",
            "acceleratorPools[0].spec.pricing.currency=USD",
        ],
        "acceleratorPools[0] (p): pricing.hourlyPerNode is required when pricing.source is Static",
    ),
    (
        ["operator.prometheus.auth.type=Basic"],
        "operator.prometheus.auth.existingSecret is required when operator.prometheus.auth.type is Basic",
    ),
    (["operator.metricsPort=8080"], "operator.livenessPort and operator.metricsPort must differ"),
    (
        ["serviceAccount.create=false"],
        "serviceAccount.name is required when serviceAccount.create is false",
    ),
    (
        ["metrics.service.enabled=false", "metrics.serviceMonitor.enabled=true"],
        "metrics.serviceMonitor.enabled needs metrics.service.enabled",
    ),
]


@pytest.mark.parametrize(("sets", "message"), BAD_VALUES, ids=[m[:48] for _, m in BAD_VALUES])
def test_bad_values_are_refused_with_a_message_naming_the_field(
    sets: list[str], message: str
) -> None:
    done = helm_template(*[arg for s in sets for arg in ("--set", s)])
    assert done.returncode != 0, f"helm accepted {sets}"
    assert message in done.stderr, done.stderr
    assert "panic" not in done.stderr
    assert "goroutine" not in done.stderr


def test_helm_lint_refuses_bad_values_too() -> None:
    done = run([tool("helm"), "lint", str(CHART), "--set", "operator.controlIntervalSeconds=-5"])
    assert done.returncode != 0
    assert "/operator/controlIntervalSeconds': minimum: got -5" in done.stdout + done.stderr
