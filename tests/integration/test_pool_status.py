"""AcceleratorPool status has one writer: with an OpenCost-priced pool it settles on the
OpenCost price and stays there, interval after interval (it used to flip between the static
and the OpenCost price, two loops overwriting each other).

The price source is a FAKE (a constant OpenCost answer): the point is who writes the status;
the real OpenCost path through a real Prometheus is tests/e2e/test_opencost_prices.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from infercost.adapters.prices import PoolPrice
from infercost.api.pool import AcceleratorPoolSpec, PriceSource
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually, operator_requests

pytestmark = pytest.mark.integration
OPENCOST_PRICE = 0.6123


class ConstantOpenCost:
    """FAKE price source: every OpenCost pool costs OPENCOST_PRICE, from two nodes."""

    async def pool_prices(self, pools: Mapping[str, AcceleratorPoolSpec]) -> dict[str, PoolPrice]:
        return {
            name: PoolPrice(hourly_per_node=OPENCOST_PRICE, source="OpenCost", nodes=2)
            for name, spec in pools.items()
            if spec.pricing.source == PriceSource.OPENCOST
        }


def pool_status_patches(api: ApiServer) -> int:
    return sum(
        1
        for verb, _, resource, _ in operator_requests(api)
        if resource == "acceleratorpools/status" and verb == "patch"
    )


async def test_opencost_pool_status_settles_and_does_not_flip(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    opencost = {
        **o.INF2,
        "spec": {**o.INF2["spec"], "pricing": {"source": "OpenCost", "hourlyPerNode": 0.7582}},
    }
    await call(api, "POST", o.POOLS, opencost)
    await call(api, "POST", o.POOLS, o.A10G)  # Static
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator(prices=ConstantOpenCost())
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics

    async def statuses() -> dict[str, dict[str, Any]] | None:
        pools = {
            p["metadata"]["name"]: p.get("status") or {}
            for p in (await call(api, "GET", o.POOLS))["items"]
        }
        ready = pools["inf2-xlarge"].get("priceSource") == "OpenCost" and pools["inf2-xlarge"].get(
            "replicasInUse"
        )
        return pools if ready and pools["g5-xlarge"].get("priceSource") else None

    settled = await eventually(statuses, what="pool status with the OpenCost price")
    assert settled["inf2-xlarge"]["hourlyPerNode"] == OPENCOST_PRICE
    (condition,) = settled["inf2-xlarge"]["conditions"]
    assert (condition["type"], condition["status"]) == ("PriceAvailable", "True")
    assert settled["g5-xlarge"]["priceSource"] == "Static"
    assert settled["g5-xlarge"]["hourlyPerNode"] == 1.006
    patches = pool_status_patches(api)
    await operator.rounds_pass(o.NS, "bert", count=5)  # five intervals: prices asked five times
    assert await statuses() == settled
    assert pool_status_patches(api) == patches  # not one pool status write: nothing flips
