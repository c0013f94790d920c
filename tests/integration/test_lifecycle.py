"""Spec edits, deletion, and pool capacity shared between services.

Metrics come from the FAKE metrics source: tests set demand and p99 directly.
"""

from __future__ import annotations

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually
from tests.integration.test_control_loop import make_ready, replicas_by_pool
from tests.integration.test_placement import deployments, status_of

pytestmark = pytest.mark.integration


async def test_spec_edit_is_acted_on_and_observed(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=100.0, p99_ms=2.0)  # FAKE metrics
    await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    await call(api, "PATCH", f"{o.ISVC}/bert", {"spec": {"scaling": {"minReplicas": 3}}})

    async def at_least_three() -> bool:
        return (await replicas_by_pool(api, "bert")).get("inf2-xlarge", 0) >= 3

    await eventually(at_least_three, what="minReplicas 3 applied")

    async def observed_two() -> bool:
        return (await status_of(api, "bert")).get("observedGeneration") == 2

    await eventually(observed_two, what="observedGeneration 2")


async def test_deleting_the_service_removes_its_children(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=100.0, p99_ms=2.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="children")
    await call(api, "DELETE", f"{o.ISVC}/bert")

    async def gone() -> bool:
        listed = await call(api, "GET", o.ISVC)
        services = await call(api, "GET", f"/api/v1/namespaces/{o.NS}/services")
        return not listed["items"] and not services["items"] and not await deployments(api, "bert")

    # kopf removes its finalizer (the timer stops), the owner goes, garbage collection follows.
    await eventually(gone, what="service and children gone")
    await eventually(
        lambda: _forgotten(operator.reconciler.memory), what="the operator forgot the service"
    )


async def _forgotten(memory: dict[tuple[str, str], object]) -> bool:
    return (o.NS, "bert") not in memory


async def test_pool_capacity_is_shared_between_services(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    small_l4 = o.pool(
        "g6-xlarge",
        accelerator="nvidia-l4",
        resource="nvidia.com/gpu",
        per_node=1,
        price=0.8048,
        instance="g6.xlarge",
        max_replicas=3,
    )
    await call(api, "POST", o.POOLS, small_l4)
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.ISVC, o.service("first", o.GPU_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "first", rps=5000.0, p99_ms=5.0)  # FAKE metrics: needs 3 L4 replicas
    first = await eventually(lambda: replicas_by_pool(api, "first"), what="first placement")
    assert first == {"g6-xlarge": 3}
    await make_ready(api, "first")

    async def in_use() -> dict[str, object] | None:
        status = (await call(api, "GET", f"{o.POOLS}/g6-xlarge")).get("status") or {}
        return status if status.get("replicasInUse") == 3 else None

    pool_status = await eventually(in_use, what="pool status with the replicas in use")
    assert pool_status["hourlyPerNode"] == 0.8048
    assert pool_status["priceSource"] == "Static"

    await call(api, "POST", o.ISVC, o.service("second", o.GPU_VARIANT))
    operator.load(o.NS, "second", rps=2000.0, p99_ms=5.0)  # FAKE metrics
    second = await eventually(lambda: replicas_by_pool(api, "second"), what="second placement")
    # The cheaper pool is full with the first service's replicas: the second goes to A10G.
    assert "g6-xlarge" not in second
    assert second.get("g5-xlarge", 0) >= 1
