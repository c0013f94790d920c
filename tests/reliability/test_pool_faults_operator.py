"""The operator reads a stalled rollout (Pending pods past the progress deadline) from the
Deployment's status and places the missing replicas on the next-cheapest pool, with an Event
naming the reason. Embedded operator, sandbox API server over real HTTP; the test plays the
Deployment controller (kmock runs none) and writes the status Kubernetes would write."""

from __future__ import annotations

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually
from tests.integration.test_control_loop import events_for, replicas_by_pool
from tests.integration.test_placement import deployments

pytestmark = pytest.mark.integration


async def test_stalled_rollout_falls_back_to_the_next_cheapest_pool(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.L4)
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    assert set(placed) == {"g6-xlarge"}
    (dep,) = await deployments(api, "bert")
    # What the Deployment controller writes when pods stay Pending past the deadline.
    stalled = {
        "replicas": placed["g6-xlarge"],
        "readyReplicas": 0,
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{dep["metadata"]["name"]}-1" has timed out progressing.',
            }
        ],
    }
    await call(
        api, "PATCH", f"{o.DEPLOYMENTS}/{dep['metadata']['name']}/status", {"status": stalled}
    )

    async def fell_back() -> dict[str, int] | None:
        now = await replicas_by_pool(api, "bert")
        return now if now.get("g5-xlarge", 0) >= placed["g6-xlarge"] else None

    await eventually(fell_back, what="replicas on the next-cheapest pool")
    reasons = {e["reason"] for e in await events_for(api, "bert")}
    assert "PoolCapacityExhausted" in reasons
