"""A BudgetPolicy in the operator: the Cap split across its services, status and metrics.

The embedded operator against the sandbox API server (real HTTP, real watches, the CRDs'
schemas and RBAC enforced); demand comes from FakeMetrics (the test sets it).
"""

from __future__ import annotations

from typing import Any

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually
from tests.integration.test_control_loop import replicas_by_pool
from tests.integration.test_placement import condition, status_of

pytestmark = pytest.mark.integration

BUDGETS = "/apis/infercost.io/v1alpha1/budgetpolicies"
L4_PRICE = 0.8048  # objects.L4: one replica of GPU_VARIANT per node
CAP = 3.0


def policy(cap: float) -> dict[str, Any]:
    return {
        "apiVersion": "infercost.io/v1alpha1",
        "kind": "BudgetPolicy",
        "metadata": {"name": "team-ml"},
        "spec": {"selector": {"namespaces": [o.NS]}, "maxHourlyCost": cap},
    }


async def team_hourly(api: ApiServer) -> float:
    """What the Deployments the operator wrote cost per hour (the children, not the plan)."""
    replicas = [sum((await replicas_by_pool(api, name)).values()) for name in ("high", "low")]
    return sum(replicas) * L4_PRICE


async def policy_status(api: ApiServer) -> dict[str, Any]:
    return dict((await call(api, "GET", f"{BUDGETS}/team-ml")).get("status") or {})


async def test_the_cap_is_split_by_priority_and_reported(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.L4)
    await call(api, "POST", o.ISVC, o.service("high", o.GPU_VARIANT, priority=10))
    await call(api, "POST", o.ISVC, o.service("low", o.GPU_VARIANT))
    await call(api, "POST", BUDGETS, policy(CAP))
    operator = await start_operator()
    for name in ("high", "low"):
        operator.load(o.NS, name, rps=4000.0, p99_ms=8.0)  # FAKE metrics: each wants > $1.5/h

    async def limited() -> dict[str, Any] | None:
        status = await policy_status(api)
        return status if status.get("limitedServices") == ["ml/low"] else None

    status = await eventually(limited, timeout=120, what="ml/low held to its share")
    assert status["spendPerHour"] <= CAP + 1e-9
    (exceeded,) = status["conditions"]
    assert (exceeded["type"], exceeded["status"]) == ("Exceeded", "True")

    async def low_capped() -> dict[str, Any] | None:
        conditions = (await status_of(api, "low")).get("conditions") or []
        within = [c for c in conditions if c["type"] == "WithinBudget"]
        return within[0] if within and within[0]["reason"] == "TeamBudgetLimited" else None

    within = await eventually(low_capped, what="low's WithinBudget TeamBudgetLimited")
    assert "BudgetPolicy team-ml" in within["message"]
    assert condition(await status_of(api, "high"), "WithinBudget")["reason"] == "WithinBudget"
    await operator.rounds_pass(o.NS, "low", count=2)
    await operator.rounds_pass(o.NS, "high", count=2)
    charged = await team_hourly(api)
    print(f"team-ml: children cost ${charged:.4f}/h, Cap ${CAP:.2f}/h")
    assert charged <= CAP + 1e-9
    high = sum((await replicas_by_pool(api, "high")).values())
    assert high * L4_PRICE > CAP / 2, "the higher priority is served first"
    registry = operator.reconciler.telemetry.registry
    spend = registry.get_sample_value("infercost_budget_policy_spend_hourly", {"policy": "team-ml"})
    assert spend is not None
    assert spend <= CAP + 1e-9
    assert registry.get_sample_value(
        "infercost_budget_policy_limited_services", {"policy": "team-ml"}
    ) == pytest.approx(1.0)

    # The limit raised: nothing is held any more, and low grows to its demand.
    await call(api, "PATCH", f"{BUDGETS}/team-ml", {"spec": {"maxHourlyCost": 100.0}})

    async def lifted() -> bool:
        status = await policy_status(api)
        return status.get("limitedServices") == [] and status["conditions"][0]["status"] == "False"

    await eventually(lifted, timeout=120, what="the raised limit holds no service")

    async def low_grown() -> bool:
        return sum((await replicas_by_pool(api, "low")).values()) == high

    await eventually(low_grown, timeout=120, what="low at its own demand")
