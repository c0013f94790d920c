"""The metrics interface: one observation of every service per control interval.

Implementations query each metric once for all services, grouped by the contract labels
(`infercost_io_service`, `infercost_io_variant`, `infercost_io_pool`, `namespace`), and hand
each service its slice (docs/architecture.md section 5): per-service queries do not scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from infercost.engine.model import Observation

ServiceKey = tuple[str, str]  # (namespace, name)
PodRef = tuple[str, str]  # (namespace, pod name)
DemandSeries = Sequence[tuple[float, float]]  # (epoch seconds, inferences/s), in time order


class MetricsSource(Protocol):
    """Where observations come from (Prometheus in a cluster; a fake in tests)."""

    async def observe_all(self, *, now: float) -> Mapping[ServiceKey, Observation]:
        """Observations of every service with metrics; services absent have none.

        A source that knows why a service has none (Prometheus down, no series) returns an
        `Observed` whose `missing` says so; `observation_for` turns that into an Observation
        with demand None and the reason, so the engine holds and status says why.
        """
        ...

    async def demand_history(
        self, *, start: float, end: float, step: float
    ) -> Mapping[ServiceKey, DemandSeries]:
        """Each service's recorded demand from `start` to `end`, a sample every `step`
        seconds: what rebuilds the engine's memory after a restart (engine/recall.py).

        Services without a record are absent. A source that cannot answer logs why and
        returns nothing: the operator then starts without that memory, as it would anyway.
        """
        ...

    async def observe_pods(
        self, pods: Mapping[PodRef, ServiceKey], *, now: float
    ) -> Mapping[ServiceKey, Observation]:
        """Observations of pods the operator does not manage (Advise mode), each pod's Triton
        series counted for the service it is mapped to; found by the `namespace` and `pod`
        labels a PodMonitor (or the kubernetes_sd pod role) gives, not the contract labels.
        Unavailable metrics are reported as `observe_all` reports them."""
        ...


@dataclass(frozen=True, kw_only=True)
class Unavailable:
    """Why metrics are unavailable: a condition reason (CamelCase) and a message for people."""

    reason: str
    message: str


class Observed(dict[ServiceKey, Observation]):
    """Observations by service, plus why the services without one have none."""

    def __init__(
        self,
        observations: Iterable[tuple[ServiceKey, Observation]] = (),
        *,
        missing: Unavailable | None = None,
    ) -> None:
        super().__init__(observations)
        self.missing = missing


def observation_for(
    observed: Mapping[ServiceKey, Observation], key: ServiceKey, *, now: float
) -> Observation | None:
    """The service's observation; for one without, an empty one carrying the reason if known."""
    found = observed.get(key)
    if found is not None or not isinstance(observed, Observed) or observed.missing is None:
        return found
    return Observation(
        time=now,
        demand_rps=None,
        p99_latency_ms=None,
        unavailable_reason=observed.missing.reason,
        unavailable_message=observed.missing.message,
    )
