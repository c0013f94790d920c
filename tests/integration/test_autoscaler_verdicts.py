"""The node autoscaler's "no" spills a full pool at once (controller/capacity.py, verdicts.py).

Embedded operator, sandbox API server over real HTTP and real watch streams. The pool takes
1,800 s to provision a node, so the time rule (provisioningSeconds + 60 s grace) would hold
the Pending replicas for half an hour. The test writes what the cluster writes: the Pods the
ReplicaSet creates, the scheduler's `PodScheduled=False, reason=Unschedulable`, then
cluster-autoscaler's `NotTriggerScaleUp` Event on each Pending Pod (the sandbox scheduler's
own event, `sandbox/scheduler.py: no_scale_up_event`, checked against the sandbox scheduler in
test_sandbox_scheduler.py), and plays the ReplicaSet's scale-down (Pending pods first).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.scheduler import no_scale_up_event
from infercost.settings import Settings
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually
from tests.integration.test_control_loop import events_for, replicas_by_pool
from tests.integration.test_placement import deployments
from tests.reliability.test_pool_faults_operator import PODS, create_pod, pod, replicaset

pytestmark = pytest.mark.integration
PROVISIONING = (
    1800  # seconds: the time rule would wait this + INFERCOST_UNSCHEDULABLE_GRACE_SECONDS
)


def slow_pool(base: dict[str, Any]) -> dict[str, Any]:
    return base | {"spec": base["spec"] | {"provisioningSeconds": PROVISIONING}}


def unschedulable_now(body: dict[str, Any]) -> dict[str, Any]:
    """The pod as the scheduler marks it, this very second (not long ago)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for condition in body["status"]["conditions"]:
        condition["lastTransitionTime"] = now
    return body


async def test_a_no_scale_up_event_spills_without_waiting_provisioning_and_grace(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, slow_pool(o.L4))
    await call(api, "POST", o.POOLS, slow_pool(o.A10G))
    await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    assert set(placed) == {"g6-xlarge"}
    assert placed["g6-xlarge"] >= 2
    (dep,) = await deployments(api, "bert")
    name, wanted = dep["metadata"]["name"], placed["g6-xlarge"]
    await create_pod(api, pod(dep, 0, node="g6-node-1"))
    pending = [f"{name}-{index}" for index in range(1, wanted)]
    for index in range(1, wanted):
        await create_pod(api, unschedulable_now(pod(dep, index, node=None)))
    await call(api, "PATCH", f"{o.DEPLOYMENTS}/{name}/status", {"status": {"readyReplicas": 1}})

    # Control: Unschedulable alone is every new pod's state on an autoscaled pool; without
    # the autoscaler's word the operator waits (rounds, not the clock).
    await operator.rounds_pass(o.NS, "bert", count=3)
    assert "g5-xlarge" not in await replicas_by_pool(api, "bert")

    # cluster-autoscaler's loop: no node group can grow for these pods.
    said_at = time.monotonic()
    rounds_before = operator.rounds[(o.NS, "bert")]
    for pending_name in pending:
        live = await call(api, "GET", f"{PODS}/{pending_name}")
        await call(api, "POST", f"/api/v1/namespaces/{o.NS}/events", no_scale_up_event(live))

    async def spilled() -> dict[str, int] | None:
        now = await replicas_by_pool(api, "bert")
        return now if now.get("g5-xlarge", 0) >= wanted - 1 else None

    async with replicaset(api, name):
        await eventually(spilled, what="the refused replicas on the next-cheapest pool")
        waited = time.monotonic() - said_at
        rounds = operator.rounds[(o.NS, "bert")] - rounds_before

        async def pending_gone() -> bool:
            pods = (await call(api, "GET", PODS))["items"]
            mine = [p for p in pods if p["metadata"]["name"].startswith(f"{name}-")]
            return all(p["status"]["phase"] == "Running" for p in mine) and len(mine) == 1

        await eventually(pending_gone, what="the Pending pods removed")
    print(f"autoscaler's no -> spill: {waited:.1f} s, {rounds} reconcile rounds")
    # Generous: the time rule alone could not have fired before provisioning + grace.
    assert waited < PROVISIONING + 60
    assert (await replicas_by_pool(api, "bert"))["g6-xlarge"] == 1  # keeps what runs
    reasons = {e["reason"] for e in await events_for(api, "bert")}
    assert "PoolCapacityExhausted" in reasons
    # The Events were listed and watched with the field selector: the API server filters them.
    selectors = {
        request.params.get("fieldSelector")
        for request in list(api._requests)
        if request.resource is not None
        and request.resource.plural == "events"
        and request.resource.group in ("", None)
        and request.headers.get("User-Agent", "").startswith("kopf/")
    }
    assert selectors == {Settings().autoscaler_events_field_selector}
