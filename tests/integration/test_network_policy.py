"""The optional NetworkPolicy child (INFERCOST_NETWORK_POLICY=true): applied with the other
children, owned by the service, valid for Kubernetes 1.33 (kubernetes-validate, strict), and
listed after a restart only when enabled. Its requests (networkpolicies: list, create, patch)
are checked against the ClusterRole as every test's are (conftest.py)."""

from __future__ import annotations

import kubernetes_validate
import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually

pytestmark = pytest.mark.integration
POLICIES = f"/apis/networking.k8s.io/v1/namespaces/{o.NS}/networkpolicies"


async def test_network_policy_child_when_enabled(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    isvc = await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator(network_policy=True)
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics

    async def policies() -> list[dict[str, object]]:
        return list((await call(api, "GET", POLICIES))["items"])

    (policy,) = await eventually(policies, what="NetworkPolicy")
    assert policy["metadata"]["ownerReferences"][0]["uid"] == isvc["metadata"]["uid"]
    body = {k: v for k, v in policy.items() if k in ("apiVersion", "kind", "spec")}
    body["metadata"] = {"name": policy["metadata"]["name"], "namespace": o.NS}
    kubernetes_validate.validate(body, "1.33", strict=True)
    await operator.stop()
    restarted = await start_operator(network_policy=True)  # lists NetworkPolicies after a start
    restarted.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)

    async def reloaded() -> bool:
        memory = restarted.reconciler.memory.get((o.NS, "bert"))
        return bool(memory and memory.loaded)

    await eventually(reloaded, what="children listed by the new process")
    assert len(await policies()) == 1
