"""The price interface: what a node of each pool costs now, and where that figure came from.

Implementation: `opencost.py` (OpenCost's node cost metrics in Prometheus). Pools priced
`Static` never ask; a pool priced `OpenCost` falls back to its static `hourlyPerNode` when
OpenCost has no figure for its nodes, and the answer says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from infercost.api.pool import AcceleratorPoolSpec


@dataclass(frozen=True, kw_only=True)
class PoolPrice:
    """A pool's price per node-hour; `fallback_reason` set when the static price stands in."""

    hourly_per_node: float
    source: str  # "OpenCost" or "Static"
    nodes: int = 0  # nodes whose OpenCost price was averaged
    fallback_reason: str | None = None
    message: str = ""


class PriceSource(Protocol):
    async def pool_prices(self, pools: Mapping[str, AcceleratorPoolSpec]) -> dict[str, PoolPrice]:
        """Prices of the pools priced by OpenCost (others are not in the answer)."""
        ...
