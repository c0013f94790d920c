"""AcceleratorPool status: replicas of all services on the pool and the price in effect.

Written once per control interval, and only for pools whose numbers changed (printer
columns `In-Use` and `$/Node-h` of `kubectl get acceleratorpools` read it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from infercost import manifests
from infercost.adapters.kubernetes import ApiError
from infercost.controller import reporting
from infercost.controller.service import Reconciler

logger = logging.getLogger("infercost")


def desired(body: dict[str, Any], replicas: int) -> dict[str, Any]:
    pricing = (body.get("spec") or {}).get("pricing") or {}
    price = pricing.get("hourlyPerNode")
    # OpenCost prices are a later adapter; until then the static price is the one in effect.
    status: dict[str, Any] = {"replicasInUse": replicas, "priceSource": "Static"}
    if price is not None:
        status["hourlyPerNode"] = price
    return status


async def report_once(reconciler: Reconciler) -> int:
    """Patch the status of every pool whose numbers changed; how many were written."""
    totals = reconciler.picture.pool_totals()
    written = 0
    for name, body in list(reconciler.picture.pools.items()):
        want = desired(body, totals.get(manifests.short_name(name), 0))
        live = {key: value for key, value in (body.get("status") or {}).items() if key in want}
        patch = reporting.status_patch(live, want)
        if not patch:
            continue
        try:
            result = await reconciler.api.patch_status(
                "AcceleratorPool", namespace=None, name=name, status=patch
            )
        except ApiError as error:
            logger.warning("pool %s: status not written: %s", name, error)
            continue
        body["status"] = result.get("status") or {**(body.get("status") or {}), **want}
        written += 1
    return written


async def report_forever(reconciler: Reconciler) -> None:
    while True:
        await asyncio.sleep(reconciler.settings.control_interval_seconds)
        await report_once(reconciler)
