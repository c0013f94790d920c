"""The metrics interface: one observation of every service per control interval.

Implementations query each metric once for all services, grouped by the contract labels
(`infercost_io_service`, `infercost_io_variant`, `infercost_io_pool`, `namespace`), and hand
each service its slice (DESIGN.md section 5): per-service queries do not scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from infercost.engine.model import Observation

ServiceKey = tuple[str, str]  # (namespace, name)


class MetricsSource(Protocol):
    """Where observations come from (Prometheus in a cluster; a fake in tests)."""

    async def observe_all(self, *, now: float) -> Mapping[ServiceKey, Observation]:
        """Observations of every service with metrics; services absent have none."""
        ...
