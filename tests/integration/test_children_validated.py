"""The operator's children and status pass the API server's validation of two Kubernetes
versions: every write of this test goes through the sandbox API server, which validates
built-ins against the Kubernetes 1.30 schemas here (1.33 in every other integration test)
and the InferenceService status against the CRD's schema. A child the real server would
refuse fails the write (422) and the children never appear; one it would prune is pruned,
and the test compares the stored children with what the operator means to write."""

from __future__ import annotations

from typing import Any

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OPERATOR_AGENTS, OperatorFactory, call, eventually

pytestmark = pytest.mark.integration

KINDS = {
    "Deployment": f"/apis/apps/v1/namespaces/{o.NS}/deployments",
    "Service": f"/api/v1/namespaces/{o.NS}/services",
    "ConfigMap": f"/api/v1/namespaces/{o.NS}/configmaps",
    "PodDisruptionBudget": f"/apis/policy/v1/namespaces/{o.NS}/poddisruptionbudgets",
    "NetworkPolicy": f"/apis/networking.k8s.io/v1/namespaces/{o.NS}/networkpolicies",
    "Event": f"/api/v1/namespaces/{o.NS}/events",
}


@pytest.mark.apiserver(kubernetes_version="1.30")
async def test_children_and_status_are_accepted_by_kubernetes_1_30(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    assert api.validation.version == "1.30"
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator(network_policy=True)
    operator.load(o.NS, "bert", rps=3000.0, p99_ms=5.0)  # FAKE metrics

    async def children() -> dict[str, list[dict[str, Any]]] | None:
        found = {kind: (await call(api, "GET", url))["items"] for kind, url in KINDS.items()}
        return found if all(found.values()) else None

    found = await eventually(children, timeout=90, what="every kind of child")
    # Nothing the operator wrote was pruned (no unknown field dropped, as a real server would
    # drop it silently), and its apply owns what it meant to set.
    assert [w for agent, w in api.pruned if agent.startswith(OPERATOR_AGENTS)] == []
    (deployment,) = found["Deployment"]
    applied = {
        path
        for entry in deployment["metadata"]["managedFields"]
        if entry["manager"] == "infercost"
        for path in _leaves(entry["fieldsV1"])
    }
    assert ("f:spec", "f:replicas") in applied
    status = (await call(api, "GET", f"{o.ISVC}/bert"))["status"]
    assert status["placement"], status


def _leaves(fields: dict[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for key, child in fields.items():
        found |= _leaves(child, (*prefix, key)) if child else {(*prefix, key)}
    return found
