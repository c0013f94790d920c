"""A metrics source whose values a test sets: for faults and loads no real system produces here.

Tests that use it say so; end-to-end tests use real Prometheus scraping real Triton.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from infercost.adapters.metrics import DemandSeries, ServiceKey
from infercost.engine.model import Observation


class FakeMetrics:
    """Returns what was last `set` for each service, stamped with the time it is asked at."""

    def __init__(self) -> None:
        self._observations: dict[ServiceKey, Observation] = {}
        self.calls = 0
        self.recorded: dict[ServiceKey, DemandSeries] = {}  # what demand_history answers
        self.history_calls: list[tuple[float, float, float]] = []

    def set(self, namespace: str, name: str, observation: Observation | None) -> None:
        if observation is None:
            self._observations.pop((namespace, name), None)
        else:
            self._observations[(namespace, name)] = observation

    async def observe_all(self, *, now: float) -> Mapping[ServiceKey, Observation]:
        self.calls += 1
        return {key: replace(obs, time=now) for key, obs in self._observations.items()}

    async def demand_history(
        self, *, start: float, end: float, step: float
    ) -> Mapping[ServiceKey, DemandSeries]:
        self.history_calls.append((start, end, step))
        return {
            key: [(t, rps) for t, rps in series if start <= t <= end]
            for key, series in self.recorded.items()
        }
