"""A metrics source with no metrics: what the operator uses until a Prometheus adapter is set.

With it every service is placed for its minimum replicas and then held
(`HeldMetricsUnavailable`, MetricsAvailable=False): honest about knowing nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from infercost.adapters.metrics import DemandSeries, PodRef, ServiceKey
from infercost.engine.model import Observation


class NoMetrics:
    async def observe_all(self, *, now: float) -> Mapping[ServiceKey, Observation]:
        return {}

    async def demand_history(
        self, *, start: float, end: float, step: float
    ) -> Mapping[ServiceKey, DemandSeries]:
        return {}

    async def observe_pods(
        self, pods: Mapping[PodRef, ServiceKey], *, now: float
    ) -> Mapping[ServiceKey, Observation]:
        return {}
