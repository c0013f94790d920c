"""Pool prices from OpenCost's node cost metrics, read through Prometheus.

Matching nodes to pools: by the pool's `nodeSelector` against kube-state-metrics'
`kube_node_labels` (label `node.kubernetes.io/instance-type` appears as
`label_node_kubernetes_io_instance_type`; kube-state-metrics exports only the labels in its
`--metric-labels-allowlist=nodes=[...]`, so the selector's keys must be listed there). Chosen
over listing Nodes through the Kubernetes API: no extra RBAC, one query for all pools, and the
same labels OpenCost's own dashboards join on. A pool's price is the mean of
`node_total_hourly_cost` (query `node_cost`, overridable, e.g. to `node_gpu_hourly_cost`)
over its matching nodes. No matching node, no cost series, or no answer from Prometheus: the
static `pricing.hourlyPerNode` stands in and the reason says which.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from infercost.adapters import promql
from infercost.adapters.prices import PoolPrice
from infercost.adapters.prometheus import PrometheusClient, QueryError
from infercost.api.pool import AcceleratorPoolSpec, PriceSource
from infercost.settings import Settings

OPENCOST, STATIC = PriceSource.OPENCOST.value, PriceSource.STATIC.value


def ksm_label(key: str) -> str:
    """kube-state-metrics' name for a Kubernetes label key."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def prices_from(
    pools: Mapping[str, AcceleratorPoolSpec],
    *,
    costs: Sequence[Mapping[str, Any]],
    labels: Sequence[Mapping[str, Any]],
) -> dict[str, PoolPrice]:
    """Pure: each OpenCost pool's price from the two query results."""
    by_node = {
        s["metric"].get("node"): promql.value_of(s)
        for s in costs
        if s.get("metric", {}).get("node")
    }
    node_labels = [s.get("metric") or {} for s in labels]
    out = {}
    for name, spec in pools.items():
        if spec.pricing.source != PriceSource.OPENCOST:
            continue
        wanted = {ksm_label(k): v for k, v in spec.node_selector.items()}
        nodes = {m["node"] for m in node_labels if "node" in m and _matches(m, wanted)}
        found = [by_node[n] for n in sorted(nodes) if math.isfinite(by_node.get(n, math.nan))]
        if found:
            out[name] = PoolPrice(
                hourly_per_node=sum(found) / len(found), source=OPENCOST, nodes=len(found)
            )
        elif not nodes:
            keys = ", ".join(sorted(spec.node_selector)) or "(empty nodeSelector)"
            out[name] = _fallback(
                spec,
                "OpenCostNodesNotFound",
                f"no node in kube_node_labels matches the nodeSelector ({keys}); list these "
                "keys in kube-state-metrics' --metric-labels-allowlist for nodes",
            )
        else:
            out[name] = _fallback(
                spec,
                "OpenCostPriceMissing",
                f"no OpenCost cost for the pool's {len(nodes)} node(s)",
            )
    return out


def _matches(metric: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(metric.get(k) == v for k, v in wanted.items())


def _fallback(spec: AcceleratorPoolSpec, reason: str, message: str) -> PoolPrice:
    static = spec.pricing.hourly_per_node
    if static is None:
        message += "; no pricing.hourlyPerNode to fall back to: priced at 0"
    return PoolPrice(
        hourly_per_node=static or 0.0,
        source=STATIC,
        fallback_reason=reason,
        message=f"{message}; using the static price",
    )


class OpenCostPrices:
    """`PriceSource` over Prometheus (same connection settings as the metrics adapter)."""

    def __init__(self, settings: Settings, *, client: PrometheusClient | None = None) -> None:
        self.client = client or PrometheusClient(settings)
        overrides = settings.prometheus_queries
        self.queries = {
            name: overrides.get(name, template) for name, template in promql.PRICE_QUERIES.items()
        }

    async def pool_prices(self, pools: Mapping[str, AcceleratorPoolSpec]) -> dict[str, PoolPrice]:
        priced = {n: s for n, s in pools.items() if s.pricing.source == PriceSource.OPENCOST}
        if not priced:
            return {}
        try:
            results = await asyncio.to_thread(self.client.run, self.queries)
        except QueryError as failed:
            return {n: _fallback(s, failed.reason, failed.message) for n, s in priced.items()}
        try:
            return prices_from(priced, costs=results["node_cost"], labels=results["node_labels"])
        except (KeyError, ValueError, TypeError, IndexError) as error:
            message = f"unexpected query result: {type(error).__name__}: {error}"
            return {n: _fallback(s, "PrometheusError", message) for n, s in priced.items()}
