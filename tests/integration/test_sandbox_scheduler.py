"""The sandbox's scheduler (sandbox/scheduler.py) against the sandbox API server: node slots
per pool, Unschedulable pods with the scheduler's message and cluster-autoscaler's
`NotTriggerScaleUp` Event, Node objects, Spot interruptions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.client import Api
from infercost.sandbox.scheduler import SPOT_TAINT, Scheduler
from infercost.settings import Settings
from tests.integration import objects as o
from tests.integration.conftest import call

pytestmark = pytest.mark.integration
PODS = f"/api/v1/namespaces/{o.NS}/pods"


def spot_pool(**notes: str) -> dict[str, Any]:
    pool = o.pool(
        "spot",
        accelerator="nvidia-l4",
        resource="nvidia.com/gpu",
        per_node=1,
        price=0.3,
        instance="g6.xlarge",
        spot=True,
    )
    pool["metadata"]["annotations"] = {f"sandbox.infercost.io/{k}": v for k, v in notes.items()}
    return pool


async def test_pods_beyond_the_pools_nodes_stay_unschedulable_until_one_frees(
    api: ApiServer,
) -> None:
    client = Api(str(api.url))
    try:
        scheduler = Scheduler(client)
        scheduler.know("spot", spot_pool(nodes="1"))
        for name in ("a", "b"):
            await call(api, "POST", PODS, {"metadata": {"name": name, "namespace": o.NS}})
        assert await scheduler.admit((o.NS, "a"), "spot", now=10.0) == 10.0
        await scheduler.bind("spot-node-1", "spot")
        assert await scheduler.admit((o.NS, "b"), "spot", now=11.0) is None
        pod = await call(api, "GET", f"{PODS}/b")
        (scheduled,) = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
        assert scheduled["message"].startswith("0/1 nodes are available: 1 Insufficient")
        # ... and cluster-autoscaler's word on it, as its recorder writes it.
        events = (await call(api, "GET", f"/api/v1/namespaces/{o.NS}/events"))["items"]
        (said,) = [e for e in events if e["involvedObject"]["name"] == "b"]
        assert (said["type"], said["reason"]) == ("Normal", "NotTriggerScaleUp")
        assert said["source"] == {"component": "cluster-autoscaler"}
        assert said["message"] == "pod didn't trigger scale-up: 1 max node group size reached"
        assert said["involvedObject"]["uid"] == pod["metadata"]["uid"]
        assert said["involvedObject"]["kind"] == "Pod"
        # The operator's watch finds it through its field selector; the kubelet's would not.
        selector = Settings().autoscaler_events_field_selector
        path = f"/api/v1/namespaces/{o.NS}/events?fieldSelector={quote(selector)}"
        assert [e["reason"] for e in (await call(api, "GET", path))["items"]] == [
            "NotTriggerScaleUp"
        ]
        kubelet = quote("source=kubelet")
        path = f"/api/v1/namespaces/{o.NS}/events?fieldSelector={kubelet}"
        assert (await call(api, "GET", path))["items"] == []
        assert await scheduler.admit((o.NS, "b"), "spot", now=11.5) is None
        events = (await call(api, "GET", f"/api/v1/namespaces/{o.NS}/events"))["items"]
        assert len(events) == 1  # said once per pod, not at every tick
        node = await call(api, "GET", "/api/v1/nodes/spot-node-1")
        assert node["metadata"]["labels"]["karpenter.sh/capacity-type"] == "spot"
        await scheduler.release((o.NS, "a"), "spot-node-1")  # pod a gone, its node emptied
        assert await scheduler.admit((o.NS, "b"), "spot", now=12.0) == 12.0
        nodes = (await call(api, "GET", "/api/v1/nodes"))["items"]
        assert nodes == []
    finally:
        await client.close()


async def test_a_spot_interruption_taints_cordons_then_hands_the_nodes_over(
    api: ApiServer,
) -> None:
    client = Api(str(api.url))
    try:
        scheduler = Scheduler(client, started=0.0)
        knobs = {"reclaim-at-seconds": "5", "reclaim-nodes": "1", "reclaim-notice-seconds": "2"}
        scheduler.know("spot", spot_pool(**knobs))
        await scheduler.bind("spot-node-1", "spot")
        await scheduler.bind("spot-node-2", "spot")
        assert await scheduler.interruptions(now=4.0) == []  # not due yet
        assert await scheduler.interruptions(now=5.0) == []  # noticed; the notice runs
        node = await call(api, "GET", "/api/v1/nodes/spot-node-1")
        assert node["spec"]["unschedulable"] is True
        assert [t["key"] for t in node["spec"]["taints"]] == [SPOT_TAINT]
        other = await call(api, "GET", "/api/v1/nodes/spot-node-2")
        assert not (other.get("spec") or {}).get("taints")
        assert await scheduler.interruptions(now=7.0) == ["spot-node-1"]
        assert scheduler.pools["spot"].limit == 1  # the pool gets no node back
    finally:
        await client.close()
