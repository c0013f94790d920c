"""Pool prices in effect: static, or OpenCost's when a pool says `pricing.source: OpenCost`.

Once per control interval (with the metrics) it asks the price source for the OpenCost pools,
puts the prices into the picture (so every decision uses them) and reports each OpenCost
pool's price in its status: `hourlyPerNode`, `priceSource` and a `PriceAvailable` condition,
False with the reason when the static price stands in. Status is written only when it changes.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from infercost.adapters.kubernetes import ApiError, KubeApi
from infercost.adapters.prices import PoolPrice, PriceSource
from infercost.api.pool import AcceleratorPoolSpec
from infercost.controller import reporting
from infercost.controller.picture import Picture

logger = logging.getLogger("infercost")
CONDITION = "PriceAvailable"


class PoolPricing:
    def __init__(self, *, api: KubeApi, source: PriceSource) -> None:
        self.api, self.source = api, source

    async def refresh(self, picture: Picture, *, now: float) -> None:
        specs = {}
        for name, body in picture.pools.items():
            try:
                specs[name] = AcceleratorPoolSpec.model_validate(body.get("spec") or {})
            except ValidationError:
                continue  # reported where pools are read (picture.pool_views)
        prices = await self.source.pool_prices(specs)
        picture.prices = {name: price.hourly_per_node for name, price in prices.items()}
        for name, price in prices.items():
            await self._report(picture, name, price, now)

    async def _report(self, picture: Picture, name: str, price: PoolPrice, now: float) -> None:
        body = picture.pools.get(name)
        if body is None:
            return
        live = body.get("status") or {}
        desired = pool_status(live, price, now=now)
        patch = reporting.status_patch(live, desired)
        if not patch:
            return
        if price.fallback_reason and (live.get("priceSource") != price.source):
            logger.warning("pool %s: %s", name, price.message)
        try:
            result = await self.api.patch_status(
                "AcceleratorPool", namespace=None, name=name, status=patch
            )
        except ApiError as error:  # the pool was deleted meanwhile, or the API is unwell
            logger.warning("pool %s: status not written: %s", name, error)
            return
        if name in picture.pools:
            picture.pools[name]["status"] = result.get("status") or desired


def pool_status(live: dict[str, Any], price: PoolPrice, *, now: float) -> dict[str, Any]:
    """The pool's status with this price; the condition's time moves only when it flips."""
    ok = price.fallback_reason is None
    before = next((c for c in live.get("conditions") or [] if c.get("type") == CONDITION), None)
    flipped = before is None or before.get("status") != ("True" if ok else "False")
    condition = {
        "type": CONDITION,
        "status": "True" if ok else "False",
        "reason": "OpenCost" if ok else price.fallback_reason,
        "message": f"mean of {price.nodes} node(s)" if ok else price.message,
        "lastTransitionTime": reporting.rfc3339(now)
        if flipped or before is None
        else before.get("lastTransitionTime"),
    }
    others = [c for c in live.get("conditions") or [] if c.get("type") != CONDITION]
    return {
        **live,
        "hourlyPerNode": round(price.hourly_per_node, 6),
        "priceSource": price.source,
        "conditions": [*others, condition],
    }
