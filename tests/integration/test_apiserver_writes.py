"""The sandbox API server refuses and prunes writes as a real one does, and replaces on PUT.

References: Kubernetes API concepts (field validation: `fieldValidation` Strict / Warn /
Ignore; unknown fields of structural schemas pruned; resourceVersion conflicts; PUT is a
replace), CRD docs (defaulting, pruning, validation rules), and the `Status` object of a
422 Invalid answer, whose message and causes name the field.
"""

from __future__ import annotations

import copy
from typing import Any

import kmock
import pytest

from infercost.sandbox import crdschema
from infercost.sandbox.apiserver import ApiServer
from tests.integration.objects import GPU_VARIANT, service
from tests.integration.test_apiserver import CM, ISVC, MERGE, api, call

pytestmark = pytest.mark.integration
__all__ = ["api"]

DEPLOYMENTS = "/apis/apps/v1/namespaces/ml/deployments"


def deployment(name: str = "web", **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx", **container}]},
            },
        },
    }


async def test_builtin_kinds_are_validated_against_the_kubernetes_schema(api: ApiServer) -> None:
    refused = await call(api, "POST", DEPLOYMENTS, deployment(ports=[{"containerPort": "http"}]))
    assert refused["_code"] == 422
    assert refused["kind"] == "Status"
    assert refused["reason"] == "Invalid"
    field = "spec.template.spec.containers[0].ports[0].containerPort"
    assert refused["message"].startswith(f'Deployment.apps "web" is invalid: {field}')
    assert refused["details"]["causes"][0]["field"] == field
    missing = deployment()
    del missing["spec"]["selector"]
    assert (await call(api, "POST", DEPLOYMENTS, missing))["_code"] == 422
    accepted = await call(api, "POST", DEPLOYMENTS, deployment())
    assert accepted["_code"] == 201 or accepted["_code"] == 200


async def test_unknown_fields_follow_field_validation(api: ApiServer) -> None:
    body = deployment(bogus=1)
    strict = await call(api, "POST", DEPLOYMENTS, body, params={"fieldValidation": "Strict"})
    assert strict["_code"] == 400
    assert 'unknown field "spec.template.spec.containers[0].bogus"' in strict["message"]
    async with api.request("POST", DEPLOYMENTS, json=body) as response:  # Warn, the default
        stored = await response.json()
        assert response.status < 300
        assert "bogus" in response.headers.get("Warning", "")
    assert "bogus" not in stored["spec"]["template"]["spec"]["containers"][0]


async def test_custom_resources_are_pruned_defaulted_and_checked_by_cel(api: ApiServer) -> None:
    body = service("bert", GPU_VARIANT)
    del body["metadata"]["namespace"]
    body["spec"]["unknownKnob"] = True
    del body["spec"]["scaling"]["scaleDownDelaySeconds"]
    created = await call(api, "POST", ISVC, body)
    assert created["_code"] < 300, created
    assert "unknownKnob" not in created["spec"]  # pruned: the schema does not declare it
    assert created["spec"]["scaling"]["scaleDownDelaySeconds"] == 300  # the CRD's default
    # A status field the schema does not know is pruned too (a real server drops it silently).
    patched = await call(
        api,
        "PATCH",
        f"{ISVC}/bert/status",
        {"status": {"replicas": 2, "made": "up"}},
        headers=MERGE,
    )
    assert patched["status"] == {"replicas": 2}
    assert [w for _, w in api.pruned] == [
        'unknown field "spec.unknownKnob"',
        'unknown field "status.made"',
    ]  # what the integration fixture checks for the operator's writes
    # CEL: minReplicas may not exceed maxReplicas (the CRD's x-kubernetes-validations).
    wrong = {"spec": {"scaling": {"minReplicas": 9, "maxReplicas": 3}}}
    refused = await call(api, "PATCH", f"{ISVC}/bert", wrong, headers=MERGE)
    assert refused["_code"] == 422
    assert refused["message"].startswith('InferenceService.infercost.io "bert" is invalid: spec')
    typed = await call(
        api, "PATCH", f"{ISVC}/bert", {"spec": {"slo": {"latencyMs": "x"}}}, headers=MERGE
    )
    assert typed["_code"] == 422
    assert "spec.slo.latencyMs" in typed["message"]


async def test_kubernetes_version_is_a_server_option() -> None:
    for version in ("1.30", "1.33"):
        async with ApiServer(kubernetes_version=version) as server, kmock.Server(server):
            assert server.validation.version == version
            refused = await call(server, "POST", DEPLOYMENTS, deployment(image=5))
            assert refused["_code"] == 422, version
            assert (await call(server, "POST", DEPLOYMENTS, deployment()))["_code"] < 300
    with pytest.raises(ValueError, match=r"use one of 1\.30, 1\.33"):
        ApiServer(kubernetes_version="1.12")


async def test_put_replaces_and_conflicts_on_a_stale_resource_version(api: ApiServer) -> None:
    created = await call(
        api,
        "POST",
        CM,
        {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1", "y": "2"}},
    )
    replacement = copy.deepcopy(created)
    del replacement["_code"]
    replacement["data"] = {"z": "3"}
    replacement["metadata"]["labels"] = {}
    replaced = await call(api, "PUT", f"{CM}/c", replacement)
    assert replaced["_code"] == 200
    assert replaced["data"] == {"z": "3"}  # a replace, not a merge: x and y are gone
    assert not replaced["metadata"].get("labels")
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    stale = await call(api, "PUT", f"{CM}/c", replacement)  # its resourceVersion is the old one
    assert stale["_code"] == 409
    assert stale["reason"] == "Conflict"
    assert stale["message"].startswith('Operation cannot be fulfilled on configmaps "c"')
    missing = await call(api, "PUT", f"{CM}/nope", {"metadata": {"name": "nope"}})
    assert missing["_code"] == 404


async def test_unchanged_invalid_values_are_ratcheted(api: ApiServer) -> None:
    """CRD validation ratcheting (on by default since 1.30): an object stored before a rule
    refused it can still be updated where the update leaves the failing value alone."""
    body = service("bert", GPU_VARIANT)
    del body["metadata"]["namespace"]
    body["spec"]["scaling"] = {"minReplicas": 5, "maxReplicas": 2}
    with api.unvalidated():
        assert (await call(api, "POST", ISVC, body))["_code"] < 300
    status = await call(
        api, "PATCH", f"{ISVC}/bert/status", {"status": {"replicas": 1}}, headers=MERGE
    )
    assert status["status"] == {"replicas": 1}
    labelled = {"metadata": {"labels": {"team": "ml"}}}
    assert (await call(api, "PATCH", f"{ISVC}/bert", labelled, headers=MERGE))["_code"] == 200
    still_wrong = {"spec": {"scaling": {"minReplicas": 6}}}
    refused = await call(api, "PATCH", f"{ISVC}/bert", still_wrong, headers=MERGE)
    assert refused["_code"] == 422


def test_cel_rules_are_not_evaluated_where_an_update_changes_nothing() -> None:
    """Ratcheting lets an unchanged value through whatever its rules say, so the server does
    not evaluate them there (most of a status write's cost): a rule at a changed node is."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.low <= self.high"}],
                "properties": {"low": {"type": "integer"}, "high": {"type": "integer"}},
            },
            "status": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.replicas >= 0"}],
                "properties": {"replicas": {"type": "integer"}},
            },
        },
    }
    stored = {"spec": {"low": 5, "high": 2}, "status": {"replicas": 1}}
    status_write = {"spec": {"low": 5, "high": 2}, "status": {"replicas": -1}}
    every = crdschema.cel_checks(schema, status_write)
    assert [(c.path, c.passed) for c in every] == [("spec", False), ("status", False)]
    changed = crdschema.cel_checks(schema, status_write, old=stored)
    assert [(c.path, c.passed) for c in changed] == [("status", False)]
    spec_write = {"spec": {"low": 6, "high": 2}, "status": {"replicas": 1}}
    assert [c.path for c in crdschema.cel_checks(schema, spec_write, old=stored)] == ["spec"]


async def test_a_registered_crd_validates_and_prunes_its_kind(api: ApiServer) -> None:
    """Another operator's CRD (a PodMonitor, reduced to two fields) once posted is enforced."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "podMetricsEndpoints": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"port": {"type": "string"}}},
                    }
                },
            }
        },
    }
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "podmonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": "PodMonitor", "plural": "podmonitors"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert (await call(api, "POST", crds, crd))["_code"] < 300
    monitors = "/apis/monitoring.coreos.com/v1/namespaces/ml/podmonitors"
    endpoint = {"port": "metrics", "interval": "15s"}
    body = {"metadata": {"name": "m"}, "spec": {"podMetricsEndpoints": [endpoint]}}
    stored = await call(api, "POST", monitors, body)
    assert stored["spec"] == {"podMetricsEndpoints": [{"port": "metrics"}]}  # pruned
    assert stored["kind"] == "PodMonitor"
    body["metadata"]["name"] = "n"
    body["spec"]["podMetricsEndpoints"] = [{"port": 8002}]
    refused = await call(api, "POST", monitors, body)
    assert refused["_code"] == 422
    assert "spec.podMetricsEndpoints[0].port" in refused["message"]
