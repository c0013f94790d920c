"""The operator reads a full pool and a Spot reclaim from Pods and Nodes, as Kubernetes shows
them, and places the lost replicas on the next-cheapest pool with an Event naming the reason.

Embedded operator, sandbox API server over real HTTP. kmock runs no scheduler, ReplicaSet or
node termination handler: the test writes the Pods and Nodes they would write (Pending pods
with `PodScheduled=False, reason=Unschedulable`; a node tainted
`aws-node-termination-handler/spot-itn`) and plays the ReplicaSet's scale-down (Pending pods
deleted first). No Deployment condition is written: capacity comes from Pods alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually
from tests.integration.test_control_loop import events_for, replicas_by_pool
from tests.integration.test_placement import deployments

pytestmark = pytest.mark.integration
PODS = f"/api/v1/namespaces/{o.NS}/pods"
LONG_AGO = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))


def pod(dep: dict[str, Any], index: int, *, node: str | None) -> dict[str, Any]:
    """A pod of `dep` as the scheduler left it: Running on `node`, or Unschedulable."""
    labels = dict(dep["spec"]["template"]["metadata"]["labels"])
    if node is None:
        status: dict[str, Any] = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. "
                    "preemption: 0/3 nodes are available: 3 No preemption victims found.",
                    "lastTransitionTime": LONG_AGO,
                }
            ],
        }
    else:
        status = {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{dep['metadata']['name']}-{index}",
            "namespace": o.NS,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": dep["metadata"]["name"],
                    "uid": dep["metadata"]["uid"],
                }
            ],
        },
        # The template's pod spec, as the ReplicaSet creates it (the API server validates it).
        "spec": dep["spec"]["template"]["spec"] | ({"nodeName": node} if node else {}),
        "status": status,
    }


async def create_pod(api: ApiServer, body: dict[str, Any]) -> None:
    status = body.pop("status")
    await call(api, "POST", PODS, body)
    path = f"{PODS}/{body['metadata']['name']}/status"
    await call(api, "PATCH", path, {"status": status})


@contextlib.asynccontextmanager
async def replicaset(api: ApiServer, name: str) -> AsyncIterator[None]:
    """Plays the ReplicaSet's scale-down for Deployment `name`: Pending pods go first."""

    async def loop() -> None:
        while True:
            dep = await call(api, "GET", f"{o.DEPLOYMENTS}/{name}")
            pods = [
                p
                for p in (await call(api, "GET", PODS))["items"]
                if p["metadata"]["name"].startswith(f"{name}-")
            ]
            pods.sort(key=lambda p: (p.get("status") or {}).get("phase") != "Pending")
            for extra in pods[: max(0, len(pods) - dep["spec"]["replicas"])]:
                await call(api, "DELETE", f"{PODS}/{extra['metadata']['name']}")
            await asyncio.sleep(0.2)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_unschedulable_pods_spill_to_the_next_cheapest_pool(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.L4)
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    assert set(placed) == {"g6-xlarge"}
    assert placed["g6-xlarge"] >= 2
    (dep,) = await deployments(api, "bert")
    name, wanted = dep["metadata"]["name"], placed["g6-xlarge"]
    # One node joined; the scheduler and the autoscaler found none for the rest.
    await create_pod(api, pod(dep, 0, node="g6-node-1"))
    for index in range(1, wanted):
        await create_pod(api, pod(dep, index, node=None))
    await call(api, "PATCH", f"{o.DEPLOYMENTS}/{name}/status", {"status": {"readyReplicas": 1}})

    async def spilled() -> dict[str, int] | None:
        now = await replicas_by_pool(api, "bert")
        return now if now.get("g5-xlarge", 0) >= wanted - 1 else None

    async with replicaset(api, name):
        await eventually(spilled, what="the unscheduled replicas on the next-cheapest pool")

        async def pending_gone() -> bool:
            pods = (await call(api, "GET", PODS))["items"]
            mine = [p for p in pods if p["metadata"]["name"].startswith(f"{name}-")]
            return all(p["status"]["phase"] == "Running" for p in mine) and len(mine) == 1

        await eventually(pending_gone, what="the Pending pods removed")
    final = await replicas_by_pool(api, "bert")
    assert final["g6-xlarge"] == 1  # scaled down to what runs, not to nothing
    reasons = {e["reason"] for e in await events_for(api, "bert")}
    assert "PoolCapacityExhausted" in reasons


async def test_spot_interruption_taint_starts_replacements_before_the_pods_go(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    spot = o.pool(
        "g6-xlarge-spot",
        accelerator="nvidia-l4",
        resource="nvidia.com/gpu",
        per_node=1,
        price=0.35,
        instance="g6.xlarge",
        spot=True,
    )
    await call(api, "POST", o.POOLS, spot)
    await call(api, "POST", o.POOLS, o.A10G)
    service = o.service("bert", o.GPU_VARIANT, placement={"maxSpotFraction": 1.0})
    await call(api, "POST", o.ISVC, service)
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    assert set(placed) == {"g6-xlarge-spot"}
    assert placed["g6-xlarge-spot"] >= 2
    (dep,) = await deployments(api, "bert")
    name, running = dep["metadata"]["name"], placed["g6-xlarge-spot"]
    for index in range(running):
        node = f"spot-node-{index}"
        labels = {"node.kubernetes.io/instance-type": "g6.xlarge"}
        await call(api, "POST", "/api/v1/nodes", {"metadata": {"name": node, "labels": labels}})
        await create_pod(api, pod(dep, index, node=node))
    status = {"readyReplicas": running, "replicas": running}
    await call(api, "PATCH", f"{o.DEPLOYMENTS}/{name}/status", {"status": status})
    noticed = running - 1
    taint = {"key": "aws-node-termination-handler/spot-itn", "value": "1", "effect": "NoSchedule"}
    for index in range(noticed):  # the interruption notice: tainted and cordoned, pods still up
        spec = {"spec": {"taints": [taint], "unschedulable": True}}
        await call(api, "PATCH", f"/api/v1/nodes/spot-node-{index}", spec)

    async def replaced() -> dict[str, int] | None:
        now = await replicas_by_pool(api, "bert")
        return now if now.get("g5-xlarge", 0) >= noticed else None

    await eventually(replaced, what="replacements on the on-demand pool")
    pods = (await call(api, "GET", PODS))["items"]
    assert sum(1 for p in pods if p["metadata"]["name"].startswith(f"{name}-")) == running
    reasons = {e["reason"] for e in await events_for(api, "bert")}
    assert "SpotReclaimed" in reasons
