"""AcceleratorPool status, its only writer: replicas of all services on the pool, the price
in effect and where it came from, and for OpenCost pools a `PriceAvailable` condition (False,
with the reason, when the static price stands in).

Written once per control interval, and only for pools whose status changed (printer columns
`In-Use` and `$/Node-h` of `kubectl get acceleratorpools` read it). Prices come from
`pricing.py`, which only reads them: one writer per field, so nothing flips between intervals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from infercost import manifests
from infercost.adapters.kubernetes import ApiError, KubeApi
from infercost.adapters.prices import PoolPrice
from infercost.controller import reporting
from infercost.controller.service import Reconciler

logger = logging.getLogger("infercost")
CONDITION = "PriceAvailable"


def desired(
    body: Mapping[str, Any], replicas: int, price: PoolPrice | None, *, now: float
) -> dict[str, Any]:
    """The pool's status: the parts this writer owns, the rest of `live` kept."""
    live = dict(body.get("status") or {})
    pricing = (body.get("spec") or {}).get("pricing") or {}
    status: dict[str, Any] = {**live, "replicasInUse": replicas}
    others = [c for c in live.get("conditions") or [] if c.get("type") != CONDITION]
    if price is not None:
        status["hourlyPerNode"] = round(price.hourly_per_node, 6)
        status["priceSource"] = price.source
        status["conditions"] = [*others, _price_condition(live, price, now=now)]
    elif pricing.get("source", "Static") == "Static":
        status["priceSource"] = "Static"
        if pricing.get("hourlyPerNode") is not None:
            status["hourlyPerNode"] = pricing["hourlyPerNode"]
        if others or live.get("conditions"):
            status["conditions"] = others  # no PriceAvailable for a static price
    # else: an OpenCost pool not asked yet: its price fields stay as they are until asked.
    return status


def _price_condition(live: Mapping[str, Any], price: PoolPrice, *, now: float) -> dict[str, Any]:
    """PriceAvailable; its time moves only when it flips."""
    ok = price.fallback_reason is None
    before = next((c for c in live.get("conditions") or [] if c.get("type") == CONDITION), None)
    kept = before is not None and before.get("status") == ("True" if ok else "False")
    stamp = before.get("lastTransitionTime") if before is not None and kept else None
    return {
        "type": CONDITION,
        "status": "True" if ok else "False",
        "reason": "OpenCost" if ok else price.fallback_reason,
        "message": f"mean of {price.nodes} node(s)" if ok else price.message,
        "lastTransitionTime": stamp or reporting.rfc3339(now),
    }


async def write_pools(
    *,
    api: KubeApi,
    pools: dict[str, dict[str, Any]],
    totals: Mapping[str, int],
    prices: Mapping[str, PoolPrice],
    now: float,
) -> int:
    """Patch the status of every pool whose status changed; how many were written."""
    written = 0
    for name, body in list(pools.items()):
        price = prices.get(name)
        want = desired(body, totals.get(manifests.short_name(name), 0), price, now=now)
        patch = reporting.status_patch(body.get("status"), want)
        if not patch:
            continue
        live = body.get("status") or {}
        if price is not None and price.fallback_reason and live.get("priceSource") != price.source:
            logger.warning("pool %s: %s", name, price.message)
        try:
            result = await api.patch_status(
                "AcceleratorPool", namespace=None, name=name, status=patch
            )
        except ApiError as error:  # the pool was deleted meanwhile, or the API is unwell
            logger.warning("pool %s: status not written: %s", name, error)
            continue
        if name in pools:
            pools[name]["status"] = result.get("status") or want
        written += 1
    return written


async def report_once(reconciler: Reconciler) -> int:
    return await write_pools(
        api=reconciler.api,
        pools=reconciler.picture.pools,
        totals=reconciler.picture.pool_totals(),
        prices=reconciler.pricing.latest if reconciler.pricing is not None else {},
        now=reconciler.clock(),
    )


async def report_forever(reconciler: Reconciler) -> None:
    while True:
        await asyncio.sleep(reconciler.settings.control_interval_seconds)
        await report_once(reconciler)
