"""What the metrics say beyond their face value: arrivals hidden in the queue, overload a
window's means average away, and whether a window describes the fleet that runs now.

Pure functions of observations and the small records kept in `ServiceState`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from infercost.engine.model import (
    CurrentDeployment,
    DeploymentMetrics,
    EngineSettings,
    Observation,
)
from infercost.engine.options import Key

T = TypeVar("T")


def queueing(metrics: DeploymentMetrics, settings: EngineSettings, *, slo_ms: float) -> bool:
    """Requests wait in the queue longer than batching ever waits (batching keeps its delay
    under margin x SLO): they wait for capacity."""
    return metrics.queue_ms is not None and metrics.queue_ms > settings.latency_margin * slo_ms


def overloaded(
    metrics: DeploymentMetrics | None, settings: EngineSettings, *, slo_ms: float
) -> bool:
    """One deployment's replicas are overloaded: busy, or queueing past what batching waits,
    over the window or now (the pending queue takes longer than that to drain at the
    window's rate: a burst late in the window, which the window's means average away)."""
    if metrics is None:
        return False
    if queueing(metrics, settings, slo_ms=slo_ms):
        return True
    limit = settings.latency_margin * slo_ms
    rate, pending = metrics.inferences_per_second, metrics.pending_requests
    if pending is not None and pending > 0 and (not rate or pending / rate * 1e3 > limit):
        return True
    rejected = metrics.rejected_per_second
    if rejected is not None and rejected > 0:
        return True  # Triton turned requests away: they waited past the queue timeout
    busy = metrics.busy_fraction
    return busy is not None and busy >= settings.saturated_busy_fraction


@dataclass(frozen=True, kw_only=True)
class TailRejections:
    """What Triton rejected below capacity: at its queue timeout on deployments whose served
    requests waited well under that timeout on average.

    Those are the tail of the waiting times at this load, which more replicas shorten.
    Rejections from a full queue (the served requests waited longer: most of the timeout)
    are an overload, which demand shows already: it counts them (`arrivals`).
    """

    share: float  # of all the service's requests
    keys: frozenset[Key]  # deployments whose own tail is over the SLO's late share


def tail_rejections(
    observation: Observation,
    current: Mapping[Key, CurrentDeployment],
    settings: EngineSettings,
    *,
    late_share: float,
) -> TailRejections:
    """The service's tail of rejections (`TailRejections`), in one pass over deployments;
    `late_share` is the share of requests the SLO lets miss (`SLO.late_share`)."""
    tail = total = 0.0
    keys = set()
    for key, metrics in observation.per_deployment.items():
        rejected, served = _rejected_and_served(metrics)
        total += rejected + served
        if rejected > 0 and _below_capacity(metrics, current.get(key), settings):
            tail += rejected
            if rejected / (rejected + served) > late_share:
                keys.add(key)
    return TailRejections(share=tail / total if total > 0 else 0.0, keys=frozenset(keys))


def _below_capacity(
    metrics: DeploymentMetrics, dep: CurrentDeployment | None, settings: EngineSettings
) -> bool:
    """The requests served waited well under the queue timeout: the queue was not full."""
    timeout_ms = dep.batching.queue_timeout_us / 1000 if dep and dep.batching else 0.0
    queue_ms = metrics.queue_ms
    return queue_ms is not None and queue_ms < settings.rejected_tail_queue_fraction * timeout_ms


def _rejected_and_served(metrics: DeploymentMetrics) -> tuple[float, float]:
    served = metrics.requests_per_second
    served = metrics.inferences_per_second if served is None else served
    return _rate(metrics.rejected_per_second), _rate(served)


def _rate(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) and value > 0 else 0.0


def arrivals(
    observation: Observation, previous: Mapping[Key, tuple[float, float]], *, max_gap: float
) -> tuple[float, dict[Key, tuple[float, float]]]:
    """Demand with the growth of the request queues and the rejections added, and the
    pending counts to keep.

    Completions under-state arrivals once replicas are saturated: what they cannot serve
    waits in the queue, so the queue's growth since the last observation (no older than
    `max_gap`) is demand too, and so are the requests Triton rejected after its queue
    timeout. Without pending counts or rejections this is the completions' rate.
    """
    demand = observation.demand_rps or 0.0
    seen: dict[Key, tuple[float, float]] = {}
    growth = 0.0
    for key, metrics in observation.per_deployment.items():
        demand += _rate(metrics.rejected_per_second)
        pending = metrics.pending_requests
        if pending is None or not math.isfinite(pending) or pending < 0:
            continue
        last = previous.get(key)
        elapsed = observation.time - last[0] if last is not None else 0.0
        if last is not None and 0.0 < elapsed <= max_gap:
            growth += max(0.0, (pending - last[1]) / elapsed)
        seen[key] = (observation.time, pending)
    return demand + growth, seen


def settled_keys(
    current: Mapping[Key, CurrentDeployment],
    previous: Mapping[Key, tuple[float, int]],
    *,
    now: float,
    window: float,
) -> tuple[frozenset[Key], dict[Key, tuple[float, int]]]:
    """Deployments whose ready count has not changed for `window` seconds, and the new record."""
    ready = {key: dep.ready_replicas for key, dep in current.items()}
    since = unchanged_since(ready, previous, now=now, window=window)
    settled = frozenset(key for key, (t, _) in since.items() if now - t >= window)
    return settled, since


def unchanged_since(
    values: Mapping[Key, T],
    previous: Mapping[Key, tuple[float, T]],
    *,
    now: float,
    window: float,
) -> dict[Key, tuple[float, T]]:
    """Per key, (since when, value): the value unchanged since then.

    A key seen for the first time counts as unchanged for `window` (nothing says it changed).
    """
    since: dict[Key, tuple[float, T]] = {}
    for key, value in values.items():
        last = previous.get(key)
        if last is None:
            since[key] = (now - window, value)
        elif last[1] != value:
            since[key] = (now, value)
        else:
            since[key] = last
    return since


def recently_ready(
    ready_since: Mapping[Key, tuple[float, int]], *, now: float, window: float
) -> bool:
    """Some deployment's ready count changed within the metrics window: its latency window
    still holds the time before, so a breach then says nothing about the fleet that runs now."""
    return any(now - since < window for since, _ in ready_since.values())


def overload_lingers(saturated_at: float | None, *, now: float, window: float) -> bool:
    """An overload ended less than `window` ago: Triton's p99 summaries (a minute of answers)
    still hold its queueing after the rates over a shorter window say the queue is empty, so
    a p99 above the SLO then is the past overload's, not a lack of capacity now."""
    return saturated_at is not None and 0.0 < now - saturated_at < window


def full_pools(
    current: Mapping[Key, CurrentDeployment],
    previous: Mapping[str, float],
    *,
    spot_pools: frozenset[str],
    now: float,
    backoff: float,
) -> dict[str, float]:
    """Pools that give no more replicas, and since when: those that left replicas
    Unschedulable, and Spot pools whose nodes are being reclaimed, kept for `backoff`
    seconds after the last sign (the next try on that pool would only wait again)."""
    kept = {pool: since for pool, since in previous.items() if now - since < backoff}
    for (_, pool), dep in current.items():
        if dep.unschedulable_replicas > 0 or (dep.disrupted_replicas > 0 and pool in spot_pools):
            kept[pool] = now
    return kept


def full_pool_rooms(
    current: Mapping[Key, CurrentDeployment], full: Mapping[str, float]
) -> dict[str, int]:
    """Per full pool, the replicas this service may keep there: those that run now (the
    lost ones, unschedulable or on nodes going away, left out)."""
    rooms = dict.fromkeys(full, 0)
    for (_, pool), dep in current.items():
        if pool in rooms:
            rooms[pool] += dep.replicas - dep.lost_replicas
    return rooms
