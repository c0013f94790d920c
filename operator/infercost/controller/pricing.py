"""Pool prices in effect: static, or OpenCost's when a pool says `pricing.source: OpenCost`.

Once per control interval (with the metrics) it asks the price source for the OpenCost pools
and puts the prices into the picture, so every decision uses them; the answers (with why a
static price stands in) are kept in `latest` for the pool status, which `pool_status.py`
alone writes (one writer per status field: no two loops overwrite each other).
"""

from __future__ import annotations

from pydantic import ValidationError

from infercost.adapters.kubernetes import KubeApi
from infercost.adapters.prices import PoolPrice, PriceSource
from infercost.api.pool import AcceleratorPoolSpec
from infercost.controller.picture import Picture


class PoolPricing:
    def __init__(self, *, api: KubeApi, source: PriceSource) -> None:
        self.api, self.source = api, source
        self.latest: dict[str, PoolPrice] = {}  # OpenCost pools: the last answer per pool

    async def refresh(self, picture: Picture, *, now: float) -> None:
        specs = {}
        for name, body in picture.pools.items():
            try:
                specs[name] = AcceleratorPoolSpec.model_validate(body.get("spec") or {})
            except ValidationError:
                continue  # reported where pools are read (picture.pool_views)
        prices = await self.source.pool_prices(specs)
        picture.prices = {name: price.hourly_per_node for name, price in prices.items()}
        self.latest = dict(prices)
