"""A pool out of capacity and a Spot pool losing its nodes: replicas go to the next-cheapest
feasible pool with a reason, and capacity (hence the SLO) comes back.

Kubernetes reports both the same way: the Deployment's pods stay Pending (no node fits, or
the Spot nodes are gone and none comes back), and once they have been Pending longer than
the Deployment's `progressDeadlineSeconds` the controller sets Progressing=False with
reason ProgressDeadlineExceeded. The operator reads that as `CurrentDeployment.stalled`;
the engine then counts only the ready replicas of that pool and places the rest elsewhere.
"""

from __future__ import annotations

from typing import Any

import pytest

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import (
    CurrentDeployment,
    DecisionInput,
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


def test_pending_past_the_deadline_falls_back_to_the_next_cheapest_pool() -> None:
    current = {("gpu", "cheap"): CurrentDeployment(replicas=4, ready_replicas=2, stalled=True)}
    plan = decide_with(POOLS, current)
    placed = replicas(plan)
    assert placed.get("next", 0) >= 2  # the two that never started, on the next-cheapest pool
    assert "dear" not in placed
    assert Reason.POOL_CAPACITY_EXHAUSTED in reasons(plan)
    wanted_cheap = placed["cheap"] if ("gpu", "cheap") not in plan.state.migrating_from else 2
    assert wanted_cheap <= 2  # no more than the pool gave


def test_the_same_pending_replicas_before_the_deadline_are_waited_for() -> None:
    """Control: without the stall the engine keeps waiting on the cheap pool (the test above
    would fail if the stall were ignored)."""
    current = {("gpu", "cheap"): CurrentDeployment(replicas=4, ready_replicas=2)}
    plan = decide_with(POOLS, current)
    assert replicas(plan) == {"cheap": 4}
    assert Reason.POOL_CAPACITY_EXHAUSTED not in reasons(plan)


def test_spot_nodes_lost_replacements_placed_and_capacity_recovers() -> None:
    pools = [pool("spot", 0.2, spot=True), pool("ondemand", 0.8), pool("dear", 2.0)]
    running = {("gpu", "spot"): CurrentDeployment(replicas=4, ready_replicas=4)}
    steady = decide_with(pools, running)
    assert replicas(steady) == {"spot": 4}
    # The Spot nodes are reclaimed: no replica ready, the pods Pending past the deadline,
    # p99 far above the SLO meanwhile.
    lost = {("gpu", "spot"): CurrentDeployment(replicas=4, ready_replicas=0, stalled=True)}
    plan = decide_with(pools, lost, p99=400.0, state=steady.state)
    placed = replicas(plan)
    assert Reason.SPOT_RECLAIMED in reasons(plan)
    assert placed.get("ondemand", 0) >= 4  # replacements for all the demand, next-cheapest
    assert "dear" not in placed
    # The replacements come up: ready capacity covers demand again (the SLO's condition).
    after = {
        key: CurrentDeployment(
            replicas=n, ready_replicas=n if key[1] == "ondemand" else 0, stalled=key[1] == "spot"
        )
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
