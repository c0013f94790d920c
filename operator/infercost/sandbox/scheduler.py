"""The node agent's scheduler, node provisioner and Spot interruptions (sandbox only).

Each pool has a number of nodes it can get (the AcceleratorPool annotation
`sandbox.infercost.io/nodes`; absent: unbounded), one replica per node. A pod beyond it stays
Pending with `PodScheduled=False, reason=Unschedulable` and the real scheduler's message
("0/N nodes are available: N Insufficient <resource>. ..."), as when Karpenter or
cluster-autoscaler cannot add a node; and it gets the Event cluster-autoscaler writes then
(`NotTriggerScaleUp`, "pod didn't trigger scale-up: 1 max node group size reached", from
`cluster-autoscaler`), once per pod (its recorder repeats a standing "no" every 5 minutes; the
sandbox does not). A pod admitted gets a Node object (the pool's
nodeSelector labels) when it binds, deleted when the pod goes (an empty node is
consolidated).

A Spot interruption (pool annotations `sandbox.infercost.io/reclaim-at-seconds`, seconds
after the sandbox started, scaled like provisioning; `reclaim-nodes`; and
`reclaim-notice-seconds`, AWS's two minutes scaled) taints that many of the pool's nodes
`aws-node-termination-handler/spot-itn` and cordons them, as the AWS node termination
handler does, then after the notice deletes the nodes and their pods.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from infercost.sandbox.client import Api, ApiError

logger = logging.getLogger("infercost.sandbox")
PREFIX = "sandbox.infercost.io/"
POOL_ANNOTATIONS = ("nodes", "reclaim-at-seconds", "reclaim-nodes", "reclaim-notice-seconds")
SPOT_TAINT = "aws-node-termination-handler/spot-itn"


@dataclass(frozen=True)
class PoolNodes:
    """One pool's sandbox knobs, read from its annotations."""

    limit: int | None
    labels: dict[str, str]
    resource: str
    reclaim_at: float | None
    reclaim_nodes: int
    notice: float

    @staticmethod
    def of(pool: dict[str, Any]) -> PoolNodes:
        notes = pool["metadata"].get("annotations") or {}

        def number(name: str) -> float | None:
            value = notes.get(PREFIX + name)
            return None if value is None else float(value)

        spec = pool.get("spec") or {}
        limit = number("nodes")
        return PoolNodes(
            limit=None if limit is None else int(limit),
            labels={
                **(spec.get("nodeSelector") or {}),
                "karpenter.sh/capacity-type": "spot"
                if spec.get("capacityType") == "Spot"
                else "on-demand",
            },
            resource=(spec.get("accelerator") or {}).get("resourceName", "cpu"),
            reclaim_at=number("reclaim-at-seconds"),
            reclaim_nodes=int(number("reclaim-nodes") or 0),
            notice=number("reclaim-notice-seconds") or 0.0,
        )


@dataclass
class Scheduler:
    api: Api
    started: float = field(default_factory=time.monotonic)
    pools: dict[str, PoolNodes] = field(default_factory=dict)
    admitted: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)  # node -> pool
    noticed: dict[str, float] = field(default_factory=dict)  # node -> when tainted
    reclaimed: set[str] = field(default_factory=set)  # pools whose reclaim has begun
    waiting: set[tuple[str, str]] = field(default_factory=set)  # pods marked Unschedulable

    def know(self, name: str, pool: dict[str, Any]) -> None:
        self.pools[name] = PoolNodes.of(pool)

    async def admit(self, key: tuple[str, str], pool: str, *, now: float) -> float | None:
        """When the pod got a node slot (its provisioning starts then), or None: no node
        can be had, and the pod is marked Unschedulable."""
        if key in self.admitted:
            return self.admitted[key][1]
        limit = self.pools[pool].limit if pool in self.pools else None
        used = sum(1 for p, _ in self.admitted.values() if p == pool)
        if limit is not None and used >= limit:
            await self._unschedulable(key, pool)
            return None
        self.admitted[key] = (pool, now)
        self.waiting.discard(key)
        return now

    async def _unschedulable(self, key: tuple[str, str], pool: str) -> None:
        if key in self.waiting:
            return  # already said; its lastTransitionTime must stay
        total = len(self.nodes)
        resource = self.pools[pool].resource
        message = (
            f"0/{total} nodes are available: {total} Insufficient {resource}. preemption: "
            f"0/{total} nodes are available: {total} No preemption victims found for incoming pod."
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": stamp,
                },
                {"type": "Ready", "status": "False", "lastTransitionTime": stamp},
            ],
        }
        with contextlib.suppress(ApiError, aiohttp.ClientError, OSError):
            pod = await self.api.call(
                "PATCH", f"/api/v1/namespaces/{key[0]}/pods/{key[1]}/status", {"status": status}
            )
            self.waiting.add(key)
            await self.api.call(
                "POST", f"/api/v1/namespaces/{key[0]}/events", no_scale_up_event(pod)
            )

    async def bind(self, node: str, pool: str) -> None:
        """The node joined: its Node object, with the pool's labels."""
        self.nodes[node] = pool
        labels = dict(self.pools[pool].labels) if pool in self.pools else {}
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": labels}}
        with contextlib.suppress(ApiError, aiohttp.ClientError, OSError):
            await self.api.call("POST", "/api/v1/nodes", body)

    async def release(self, key: tuple[str, str], node: str | None) -> None:
        """The pod is gone: its slot is free, its (now empty) node removed."""
        self.admitted.pop(key, None)
        self.waiting.discard(key)
        if node is not None and self.nodes.pop(node, None) is not None:
            self.noticed.pop(node, None)
            with contextlib.suppress(ApiError, aiohttp.ClientError, OSError):
                await self.api.call("DELETE", f"/api/v1/nodes/{node}")

    async def interruptions(self, *, now: float) -> list[str]:
        """Taint the nodes of a pool whose reclaim is due; the nodes whose notice ran out
        (their pods are to be deleted with them)."""
        for pool, knobs in self.pools.items():
            due = knobs.reclaim_at is not None and now - self.started >= knobs.reclaim_at
            if not due or pool in self.reclaimed:
                continue
            self.reclaimed.add(pool)
            held = sorted(n for n, p in self.nodes.items() if p == pool)
            # The capacity is gone: the pool gets no node back for the interrupted ones.
            self.pools[pool] = replace(knobs, limit=max(0, len(held) - knobs.reclaim_nodes))
            for node in held[: knobs.reclaim_nodes]:
                self.noticed[node] = now
                logger.info("spot interruption notice: node %s (pool %s)", node, pool)
                taint = {"key": SPOT_TAINT, "value": str(int(time.time())), "effect": "NoSchedule"}
                with contextlib.suppress(ApiError, aiohttp.ClientError, OSError):
                    await self.api.call(
                        "PATCH",
                        f"/api/v1/nodes/{node}",
                        {"spec": {"taints": [taint], "unschedulable": True}},
                    )
        return [
            node
            for node, since in self.noticed.items()
            if now - since >= self.pools[self.nodes[node]].notice
        ]


def no_scale_up_event(pod: dict[str, Any]) -> dict[str, Any]:
    """cluster-autoscaler's word on a pod no node group can be grown for (its pool is at its
    node limit): a core/v1 Event as its recorder writes it (client-go's legacy recorder:
    name `<pod>.<hex nanoseconds>`, source and reportingComponent `cluster-autoscaler`,
    type Normal, reason `NotTriggerScaleUp`, "pod didn't trigger scale-up: <count> <reason>"
    per rejected node group; processors/status/eventing_scale_up_processor.go)."""
    meta = pod["metadata"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": "NotTriggerScaleUp",
        "message": "pod didn't trigger scale-up: 1 max node group size reached",
        "type": "Normal",
        "source": {"component": "cluster-autoscaler"},
        "reportingComponent": "cluster-autoscaler",
        "reportingInstance": "",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
