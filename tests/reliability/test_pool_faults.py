"""A pool out of capacity and a Spot pool losing its nodes: replicas go to the next-cheapest
feasible pool with a reason, and capacity (hence the SLO) comes back.

Kubernetes shows a full pool as Pods Pending with PodScheduled=False, reason Unschedulable
(the autoscaler found no node), and a Spot reclaim as nodes tainted for disruption or
cordoned, then deleted with their pods. The operator (controller/capacity.py) turns those
into `CurrentDeployment.unschedulable_replicas` and `.disrupted_replicas`; the engine counts
neither as capacity, places them elsewhere and keeps the pool from growing for
`pool_full_backoff_seconds`.
"""

from __future__ import annotations

from typing import Any

import pytest

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import (
    CurrentDeployment,
    DecisionInput,
    EngineSettings,
    Observation,
    Plan,
    PoolView,
    Reason,
    ServiceState,
)
from infercost.engine.options import pool_view
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0
DEMAND = 3000.0  # 1,000/s per replica at batch 8: 4 replicas with 20% headroom


def pool(name: str, price: float, *, spot: bool = False) -> PoolView:
    spec = AcceleratorPoolSpec.model_validate(
        {
            "accelerator": {"type": "nvidia-l4", "resourceName": "nvidia.com/gpu"},
            "capacityType": "Spot" if spot else "OnDemand",
            "pricing": {"hourlyPerNode": price},
        }
    )
    return pool_view(name, labels={}, spec=spec)


SPEC = InferenceServiceSpec.model_validate(
    {
        "model": {"name": "m"},
        "variants": [
            {
                "name": "gpu",
                "acceleratorTypes": ["nvidia-l4"],
                "image": "i",
                "modelRepository": "m",
                "profile": [
                    {
                        "acceleratorType": "nvidia-l4",
                        "batchSize": 8,
                        "throughput": 1000,
                        "p99LatencyMs": 10,
                    }
                ],
            }
        ],
        "slo": {"latencyMs": 50},
        "scaling": {"minReplicas": 1, "maxReplicas": 20},
    }
)


def decide_with(
    pools: list[PoolView], current: dict[tuple[str, str], CurrentDeployment], **kw: Any
) -> Plan:
    return decide(
        DecisionInput(
            spec=SPEC,
            pools=tuple(pools),
            observation=Observation(time=NOW, demand_rps=DEMAND, p99_latency_ms=kw.get("p99")),
            current=current,
            state=kw.get("state", ServiceState()),
            now=NOW,
        )
    )


def replicas(plan: Plan) -> dict[str, int]:
    return {a.pool: a.replicas for a in plan.allocations}


def reasons(plan: Plan) -> set[Reason]:
    return {a.reason for a in plan.actions}


POOLS = [pool("cheap", 0.5), pool("next", 0.8), pool("dear", 2.0)]


def test_unschedulable_replicas_fall_back_to_the_next_cheapest_pool() -> None:
    current = {
        ("gpu", "cheap"): CurrentDeployment(replicas=4, ready_replicas=2, unschedulable_replicas=2)
    }
    plan = decide_with(POOLS, current)
    placed = replicas(plan)
    assert placed.get("next", 0) >= 2  # the two that found no node, on the next-cheapest pool
    assert "dear" not in placed
    assert placed.get("cheap", 0) <= 2  # the Pending ones removed: no more than the pool runs
    assert Reason.POOL_CAPACITY_EXHAUSTED in reasons(plan)
    assert "cheap" in plan.state.full_pools


def test_the_same_pending_replicas_not_unschedulable_are_waited_for() -> None:
    """Control: Pending within the grace period (a node may still come) the engine keeps
    waiting on the cheap pool (the test above would fail if the signal were ignored)."""
    current = {("gpu", "cheap"): CurrentDeployment(replicas=4, ready_replicas=2)}
    plan = decide_with(POOLS, current)
    assert replicas(plan) == {"cheap": 4}
    assert Reason.POOL_CAPACITY_EXHAUSTED not in reasons(plan)
    assert not plan.state.full_pools


def test_a_full_pool_gives_no_more_for_the_back_off_then_is_tried_again() -> None:
    full = {
        ("gpu", "cheap"): CurrentDeployment(replicas=4, ready_replicas=2, unschedulable_replicas=2)
    }
    first = decide_with(POOLS, full)
    # The Pending pods are gone and the next pool runs the rest: nothing signals any more.
    after = {
        ("gpu", "cheap"): CurrentDeployment(replicas=2, ready_replicas=2),
        ("gpu", "next"): CurrentDeployment(replicas=2, ready_replicas=2),
    }
    later = NOW + 60.0
    held = decide(
        DecisionInput(
            spec=SPEC,
            pools=tuple(POOLS),
            observation=Observation(time=later, demand_rps=DEMAND * 1.5, p99_latency_ms=None),
            current=after,
            state=first.state,
            now=later,
        )
    )
    assert replicas(held).get("cheap", 0) <= 2  # more demand grows elsewhere, not there
    assert replicas(held).get("next", 0) > 2
    backoff = EngineSettings().pool_full_backoff_seconds
    past = NOW + backoff + 1.0
    retried = decide(
        DecisionInput(
            spec=SPEC,
            pools=tuple(POOLS),
            observation=Observation(time=past, demand_rps=DEMAND * 1.5, p99_latency_ms=None),
            current=after,
            state=held.state,
            now=past,
        )
    )
    assert "cheap" not in retried.state.full_pools
    assert replicas(retried).get("cheap", 0) > 2  # the back-off is over: the pool is tried


def test_spot_reclaim_notice_starts_replacements_before_the_pods_go() -> None:
    """3 of 4 Spot replicas are on nodes tainted for interruption, still Ready and serving:
    replacements start now, not once the pods are gone (or p99 breaks the SLO)."""
    pools = [pool("spot", 0.2, spot=True), pool("ondemand", 0.8), pool("dear", 2.0)]
    running = {("gpu", "spot"): CurrentDeployment(replicas=4, ready_replicas=4)}
    steady = decide_with(pools, running)
    assert replicas(steady) == {"spot": 4}
    noticed = {
        ("gpu", "spot"): CurrentDeployment(replicas=4, ready_replicas=4, disrupted_replicas=3)
    }
    plan = decide_with(pools, noticed, p99=20.0, state=steady.state)
    placed = replicas(plan)
    assert Reason.SPOT_RECLAIMED in reasons(plan)
    assert placed.get("ondemand", 0) >= 3
    assert "dear" not in placed
    # The noticed replicas serve until their nodes drain: kept only while the new ones start.
    assert ("gpu", "spot") in plan.state.migrating_from


def test_disruption_on_an_on_demand_pool_does_not_mark_it_full() -> None:
    """A drained on-demand node (consolidation, an upgrade) loses replicas, which are
    recreated there, but the pool is not out of capacity: no back-off."""
    current = {
        ("gpu", "cheap"): CurrentDeployment(replicas=4, ready_replicas=4, disrupted_replicas=1)
    }
    plan = decide_with(POOLS, current)
    assert "cheap" not in plan.state.full_pools
    # The Deployment keeps its 4: the ReplicaSet recreates the evicted pod on a new node.
    assert replicas(plan) == {"cheap": 4}


def test_spot_nodes_lost_replacements_placed_and_capacity_recovers() -> None:
    pools = [pool("spot", 0.2, spot=True), pool("ondemand", 0.8), pool("dear", 2.0)]
    running = {("gpu", "spot"): CurrentDeployment(replicas=4, ready_replicas=4)}
    steady = decide_with(pools, running)
    assert replicas(steady) == {"spot": 4}
    # The Spot nodes are reclaimed: no replica ready, the replacement pods lost with the
    # pool's nodes, p99 far above the SLO meanwhile.
    lost = {("gpu", "spot"): CurrentDeployment(replicas=4, ready_replicas=0, disrupted_replicas=4)}
    plan = decide_with(pools, lost, p99=400.0, state=steady.state)
    placed = replicas(plan)
    assert Reason.SPOT_RECLAIMED in reasons(plan)
    assert placed.get("ondemand", 0) >= 4  # replacements for all the demand, next-cheapest
    assert "dear" not in placed
    # The replacements come up: ready capacity covers demand again (the SLO's condition).
    after = {
        key: CurrentDeployment(replicas=n, ready_replicas=n if key[1] == "ondemand" else 0)
        for key, n in ((("gpu", a.pool), a.replicas) for a in plan.allocations)
    }
    recovered = decide_with(pools, after, p99=20.0, state=plan.state)
    ready_capacity = sum(
        a.throughput_per_replica
        * after.get(
            (a.variant, a.pool), CurrentDeployment(replicas=0, ready_replicas=0)
        ).ready_replicas
        for a in recovered.allocations
    )
    assert ready_capacity >= DEMAND
    assert {c.type: c.ok for c in recovered.conditions}["Placed"]
    assert replicas(recovered).get("spot", 0) == 0  # the back-off holds the pool empty


def test_the_pending_replacements_of_reclaimed_pods_are_not_kept() -> None:
    """The noticed nodes are gone; their pods' replacements wait Pending on the Spot pool
    (it gets no node back). Replicas elsewhere start; the Spot Deployment keeps only the
    ready ones meanwhile, not the Pending ones (which would never start)."""
    pools = [pool("spot", 0.2, spot=True), pool("ondemand", 0.8), pool("dear", 2.0)]
    gone = {("gpu", "spot"): CurrentDeployment(replicas=4, ready_replicas=2, disrupted_replicas=2)}
    plan = decide_with(pools, gone)
    placed = replicas(plan)
    assert placed.get("ondemand", 0) >= 2
    assert placed.get("spot", 0) <= 2
    assert Reason.SPOT_RECLAIMED in reasons(plan)
