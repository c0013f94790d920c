"""controller/capacity.py: Pods and Nodes into lost replicas per (variant, pool)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from infercost.controller.capacity import Capacity

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0
SERVICE = ("ml", "bert")


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def pod(name: str, *, node: str | None = None, unschedulable_at: float | None = None) -> Any:
    conditions = []
    if unschedulable_at is not None:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": stamp(unschedulable_at),
            }
        )
    labels = {
        "infercost.io/service": "bert",
        "infercost.io/variant": "gpu",
        "infercost.io/pool": "spot",
    }
    return {
        "metadata": {"name": name, "namespace": "ml", "labels": labels},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": "Running" if node else "Pending", "conditions": conditions},
    }


def node(name: str, *, taint: str | None = None, cordoned: bool = False) -> Any:
    spec: dict[str, Any] = {"unschedulable": cordoned}
    if taint:
        spec["taints"] = [{"key": taint, "effect": "NoSchedule"}]
    return {"metadata": {"name": name}, "spec": spec}


def test_unschedulable_counts_only_past_provisioning_and_grace() -> None:
    capacity = Capacity(grace_seconds=60.0)
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 100), now=NOW)
    capacity.pod_seen(pod("b", unschedulable_at=NOW - 500), now=NOW)
    counts = capacity.counts(SERVICE, now=NOW, provisioning={"spot": 120.0})
    assert counts == {("gpu", "spot"): (1, 0)}  # 100 s < 120 + 60 < 500 s
    assert capacity.counts(("ml", "other"), now=NOW, provisioning={"spot": 120.0}) == {}


def test_a_disruption_taint_or_cordon_counts_the_pods_on_the_node() -> None:
    capacity = Capacity(disruption_taints=["aws-node-termination-handler/spot-itn"])
    for name in ("n1", "n2", "n3"):
        capacity.node_seen(node(name), now=NOW)
        capacity.pod_seen(pod(f"p-{name}", node=name), now=NOW)
    assert capacity.node_seen(node("n1", taint="aws-node-termination-handler/spot-itn"), now=NOW)
    assert capacity.node_seen(node("n2", cordoned=True), now=NOW) == {SERVICE}
    assert not capacity.node_seen(node("n3", taint="example.com/other"), now=NOW)
    assert capacity.counts(SERVICE, now=NOW, provisioning={}) == {("gpu", "spot"): (0, 2)}


def test_a_node_lost_without_notice_counts_its_pods_replacements() -> None:
    capacity = Capacity(grace_seconds=60.0)
    capacity.pod_seen(pod("p1", node="n1"), now=NOW)
    assert capacity.node_gone("n1", now=NOW) == {SERVICE}
    capacity.pod_gone("ml", "p1", now=NOW)
    capacity.pod_seen(pod("p2", unschedulable_at=NOW), now=NOW)  # the ReplicaSet's new pod
    assert capacity.counts(SERVICE, now=NOW + 1, provisioning={"spot": 30.0}) == {
        ("gpu", "spot"): (0, 1)
    }
    # Past the pool's grace the reclaim is forgotten; still no node: the pool is full.
    later = NOW + 30.0 + 60.0 + 1.0
    assert capacity.counts(SERVICE, now=later, provisioning={"spot": 30.0}) == {
        ("gpu", "spot"): (1, 0)
    }
