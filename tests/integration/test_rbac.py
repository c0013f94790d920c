"""Least privilege: the chart's ClusterRole allows exactly what the operator does.

The test runs the operator itself through a workload that reaches every kind of request it
makes (the watches and kopf's resource scan, a placement with every child, NetworkPolicy on,
ready replicas and their Triton pods, a migration that deletes the old Deployment, pool
status, a BudgetPolicy's status, Events, kopf's finalizer, a restart that lists the children and deletes unwanted ones
of every kind, peering cluster-wide
and in one namespace, spec.routing's HTTPRoute written and deleted,
leader election on a Lease in the operator's namespace, sharding on
Leases there, and a new pod's
real tritonserver loaded and admitted through its readiness gate, with the service's Secret), records those requests at the sandbox API server (by User-Agent) and
compares them with `charts/infercost/files/clusterrole-rules.yaml`, both ways: a request the
rules do not allow fails, and so does a grant nothing used. It depends on no other test, on no
run order and on no selection (`-k`). Every other integration test also checks its own
requests against the rules (conftest.py, when its API server stops).
"""

from __future__ import annotations

import pytest

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.rbac import OPERATOR_NAMESPACE
from tests.integration import objects as o
from tests.integration.conftest import OPERATOR_AGENTS, OperatorFactory, call, eventually
from tests.integration.test_control_loop import make_ready, replicas_by_pool
from tests.integration.test_drift import unwanted_children_deleted
from tests.integration.test_placement import status_of
from tests.integration.test_readiness_gate import admit_a_new_pod
from tests.integration.test_routing import routing_workload
from tests.integration.test_scale_to_zero import a_service_at_zero, activator
from tests.integration.test_team_budget import BUDGETS
from tests.integration.test_team_budget import policy as team_policy
from tests.support.rbac import granted

pytestmark = pytest.mark.integration

PEERINGS = "/apis/kopf.dev/v1/clusterkopfpeerings"
NS_PEERINGS = f"/apis/kopf.dev/v1/namespaces/{o.NS}/kopfpeerings"


def peering(kind: str, namespace: str | None = None) -> dict[str, object]:
    metadata = {"name": "infercost"} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": metadata, "status": {}}


async def announced(api: ApiServer, url: str) -> bool:
    return bool((await call(api, "GET", f"{url}/infercost")).get("status"))


async def cluster_wide_workload(api: ApiServer, start_operator: OperatorFactory) -> None:
    """Place, make ready, migrate (the old Deployment is deleted), restart, delete."""
    await call(api, "POST", PEERINGS, peering("ClusterKopfPeering"))
    await call(api, "POST", o.POOLS, o.L4)
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT))
    await call(api, "POST", BUDGETS, team_policy(100.0))  # a BudgetPolicy's status is written
    operator = await start_operator(peering="infercost", network_policy=True)
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")

    async def policy_reported() -> bool:
        return "spendPerHour" in (
            (await call(api, "GET", f"{BUDGETS}/team-ml")).get("status") or {}
        )

    await eventually(policy_reported, what="the BudgetPolicy's status written")
    assert set(placed) == {"g6-xlarge"}
    await make_ready(api, "bert")  # the rollout lists the ready replicas' pods
    await eventually(lambda: announced(api, PEERINGS), what="presence in the peering")
    await call(api, "PATCH", f"{o.POOLS}/g6-xlarge", {"spec": {"pricing": {"hourlyPerNode": 4.0}}})

    async def surged() -> bool:
        return "g5-xlarge" in await replicas_by_pool(api, "bert")

    await eventually(surged, what="new Deployment on the cheaper pool")
    await make_ready(api, "bert")

    async def moved() -> bool:
        return "g6-xlarge" not in await replicas_by_pool(api, "bert")

    await eventually(moved, what="old Deployment deleted")
    await operator.stop()

    restarted = await start_operator(peering="infercost", network_policy=True)
    restarted.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)
    await restarted.rounds_pass(o.NS, "bert", count=2)  # the start lists the children
    await call(api, "DELETE", f"{o.ISVC}/bert")  # kopf releases its finalizer

    async def gone() -> bool:
        listed = await call(api, "GET", o.ISVC)
        return all(item["metadata"]["name"] != "bert" for item in listed["items"])

    await eventually(gone, what="the service deleted")
    await restarted.stop()


async def namespaced_workload(api: ApiServer, start_operator: OperatorFactory) -> None:
    """`run --namespace ml --peering infercost`: the namespaced peering and the namespace."""
    await call(api, "POST", NS_PEERINGS, peering("KopfPeering", o.NS))
    await call(api, "POST", o.ISVC, o.service("gpt", o.GPU_VARIANT))
    operator = await start_operator(peering="infercost", namespace=o.NS, all_namespaces=False)
    operator.load(o.NS, "gpt", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: status_of(api, "gpt"), what="gpt reconciled")
    await eventually(lambda: announced(api, NS_PEERINGS), what="presence in the namespaced peering")
    await operator.stop()


async def drift_workload(api: ApiServer, start_operator: OperatorFactory) -> None:
    """Unwanted children of every kind deleted after a restart; then the service deleted."""
    operator = await unwanted_children_deleted(api, start_operator)
    await call(api, "DELETE", f"{o.ISVC}/bert")

    async def gone() -> bool:
        listed = await call(api, "GET", o.ISVC)
        return all(item["metadata"]["name"] != "bert" for item in listed["items"])

    await eventually(gone, what="the service deleted")
    await operator.stop()


async def leader_workload(api: ApiServer, start_operator: OperatorFactory) -> None:
    """Leader election (chart `replicas` > 1): the Lease created, read and renewed."""
    operator = await start_operator(
        leader_election=True, leader_election_namespace=OPERATOR_NAMESPACE
    )
    lease = f"/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NAMESPACE}/leases/infercost"

    held = await eventually(lambda: call(api, "GET", lease), what="the Lease taken")
    first = held["spec"]["renewTime"]

    async def renewed_since() -> bool:
        return bool((await call(api, "GET", lease))["spec"]["renewTime"] != first)

    await eventually(renewed_since, what="the Lease renewed")
    await operator.stop()


async def shard_workload(api: ApiServer, start_operator: OperatorFactory) -> None:
    """Sharding: the shard and member Leases listed, created and renewed; the member Lease
    deleted at the clean stop."""
    operator = await start_operator(
        sharding_shards=2,
        leader_election_namespace=OPERATOR_NAMESPACE,
        leader_election_lease_duration_seconds=2,
        leader_election_renew_deadline_seconds=1,
        leader_election_retry_period_seconds=0.2,
    )
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NAMESPACE}/leases"

    async def renewed() -> str:
        listed = (await call(api, "GET", leases))["items"]
        held = [x for x in listed if x["metadata"]["name"] == "infercost-shard-1"]
        return str(held[0]["spec"]["renewTime"]) if held else ""

    first = await eventually(renewed, what="a shard Lease taken")

    async def renewed_since() -> bool:
        return await renewed() != first

    await eventually(renewed_since, what="the shard Lease renewed")
    await operator.stop()


async def zero_workload(api: ApiServer, start_operator: OperatorFactory) -> None:
    """A service at zero: its activator and the activator's identity."""
    operator = await a_service_at_zero(api, start_operator, name="zed")
    await eventually(lambda: activator(api, "zed"), what="the activator Deployment")
    await call(api, "DELETE", f"{o.ISVC}/zed")

    async def gone() -> bool:
        listed = await call(api, "GET", o.ISVC)
        return all(item["metadata"]["name"] != "zed" for item in listed["items"])

    await eventually(gone, what="the service deleted")
    await operator.stop()


@pytest.mark.apiserver(gateway_api=True)  # spec.routing's HTTPRoute is served
async def test_rules_allow_every_request_and_grant_nothing_unused(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await drift_workload(api, start_operator)
    await cluster_wide_workload(api, start_operator)
    await namespaced_workload(api, start_operator)
    await leader_workload(api, start_operator)
    await shard_workload(api, start_operator)
    await admit_a_new_pod(api, start_operator)
    await zero_workload(api, start_operator)
    await routing_workload(api, start_operator)
    used = {
        (group, resource, verb)
        for verb, group, resource, _ in api.request_log(agents=OPERATOR_AGENTS)
    }
    grants = granted()
    assert sorted(used - grants) == [], "requests the ClusterRole does not allow"
    assert sorted(grants - used) == [], f"grants never used: remove them; used: {sorted(used)}"
