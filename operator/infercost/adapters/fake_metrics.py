"""A metrics source whose values a test sets: for faults and loads no real system produces here.

Tests that use it say so; end-to-end tests use real Prometheus scraping real Triton.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from infercost.adapters.metrics import DemandSeries, PodRef, ServiceKey
from infercost.engine.model import Observation


class FakeMetrics:
    """Returns what was last `set` for each service, stamped with the time it is asked at."""

    def __init__(self) -> None:
        self._observations: dict[ServiceKey, Observation] = {}
        self.calls = 0
        self.recorded: dict[ServiceKey, DemandSeries] = {}  # what demand_history answers
        self.history_calls: list[tuple[float, float, float]] = []
        self.pod_observations: dict[PodRef, Observation] = {}  # what observe_pods sums
        self.pods_asked: list[frozenset[PodRef]] = []

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

    def set_pod(self, namespace: str, pod: str, observation: Observation | None) -> None:
        """One pod's metrics, as Prometheus would give them by its namespace and pod labels."""
        if observation is None:
            self.pod_observations.pop((namespace, pod), None)
        else:
            self.pod_observations[(namespace, pod)] = observation

    async def observe_pods(
        self, pods: Mapping[PodRef, ServiceKey], *, now: float
    ) -> Mapping[ServiceKey, Observation]:
        """The pods' observations summed per service (demand summed, p99 the worst pod's)."""
        self.pods_asked.append(frozenset(pods))
        found: dict[ServiceKey, list[Observation]] = {}
        for pod, key in pods.items():
            if pod in self.pod_observations:
                found.setdefault(key, []).append(self.pod_observations[pod])
        out = {}
        for key, observations in found.items():
            p99s = [o.p99_latency_ms for o in observations if o.p99_latency_ms is not None]
            out[key] = Observation(
                time=now,
                demand_rps=sum(o.demand_rps or 0.0 for o in observations),
                p99_latency_ms=max(p99s) if p99s else None,
            )
        return out
