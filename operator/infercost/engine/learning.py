"""What the engine learns between decisions: capacity factors and demand history.

Both travel in `ServiceState`, so the same sequence of inputs always gives the same plans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from infercost.api.service import InferenceServiceSpec
from infercost.engine.cost import (
    blend_capacity_factor,
    capacity_sample,
    clamp_factor,
    profile_curve,
)
from infercost.engine.model import (
    BatchConfig,
    CurrentDeployment,
    DeploymentMetrics,
    EngineSettings,
    Observation,
    PoolView,
    ServiceState,
)
from infercost.engine.options import Key


def observed_p99(
    observation: Observation | None, current: Mapping[Key, CurrentDeployment]
) -> dict[Key, float]:
    """p99 per serving (variant, pool): its own when scraped, else the service's (max over
    pods). Deployments with no ready replica serve nothing, so no latency is theirs."""
    if observation is None:
        return {}
    result: dict[Key, float] = {}
    for key, deployment in current.items():
        if deployment.ready_replicas <= 0:
            continue
        metrics = observation.per_deployment.get(key)
        p99 = metrics.p99_latency_ms if metrics is not None else None
        p99 = p99 if p99 is not None else observation.p99_latency_ms
        if p99 is not None:
            result[key] = p99
    return result


def learn_capacity(
    *,
    spec: InferenceServiceSpec,
    pools: tuple[PoolView, ...],
    observation: Observation,
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
    settings: EngineSettings,
    ceilings: Mapping[Key, float],
    settled: frozenset[Key] = frozenset(),
) -> dict[Key, float]:
    """Updated capacity factors: blend busy-time samples, cut where p99 broke the SLO, and
    never above the per-replica rate at which p99 last broke it (`slo_ceilings`).

    Samples count only on `settled` deployments (ready count unchanged over the metrics
    window: a rate over a window in which replicas joined, divided by today's count, reads
    low). The cut happens once per breach episode (`state.slo_breach_since` is None before
    it) and only on fully started replicas neither idle nor overloaded: repeated every
    interval it compounds into a deep over-provision, an idle replica's latency says nothing
    about capacity, and an overloaded one's is queueing for capacity it already reports.
    """
    learned = dict(state.learned_capacity)
    accelerator = {pool.name: pool.spec.accelerator.type for pool in pools}
    variants = {variant.name: variant for variant in spec.variants}
    p99 = observed_p99(observation, current)
    new_episode = state.slo_breach_since is None and not starting(current)
    for key in sorted(current):
        variant, pool = variants.get(key[0]), accelerator.get(key[1])
        if variant is None or pool is None:
            continue
        curve = profile_curve(variant, pool)
        if curve is None:
            continue
        metrics = observation.per_deployment.get(key)
        sample = None
        if metrics is not None:
            ready = current[key].ready_replicas
            sample = capacity_sample(metrics, replicas=ready, settings=settings)
        batch = _batch_observed(key, metrics, current, state) if metrics is not None else None
        usable = key in settled and batch is not None and batch >= curve.batch_sizes[0]
        if sample is not None and batch is not None and usable:
            learned[key] = blend_capacity_factor(
                previous=learned.get(key),
                prior_throughput=curve.throughput_at(batch),
                sample=sample,
                settings=settings,
            )
        busy = metrics.busy_fraction if metrics is not None else None
        if (
            new_episode
            and key in settled
            and p99.get(key, 0.0) > spec.slo.latency_ms
            and (busy is None or busy >= settings.min_busy_fraction_to_learn)
            and not overloaded(metrics, settings, slo_ms=spec.slo.latency_ms)
        ):
            cut = learned.get(key, 1.0) * settings.slo_breach_capacity_cut
            learned[key] = clamp_factor(cut, settings)
        ceiling = ceilings.get(key)
        prior = curve.throughput_at(_batch_observed(key, None, current, state))
        if ceiling is not None and prior > 0 and learned.get(key, 1.0) * prior > ceiling:
            learned[key] = clamp_factor(ceiling / prior, settings)
    return learned


def slo_ceilings(
    previous: Mapping[Key, float],
    *,
    observation: Observation,
    current: Mapping[Key, CurrentDeployment],
    slo_ms: float,
    headroom: float,
    settings: EngineSettings,
    bounds: Mapping[Key, float] | None = None,
    settled: frozenset[Key] | None = None,
) -> dict[Key, float]:
    """Per-replica rates at which p99 broke the SLO, raised when a higher rate is served well.

    Busy time says what a replica can execute; the SLO holds only below some lower load
    that depends on the traffic's burstiness, which no profile knows. Without this memory
    the busy-time samples pull capacity back up after each breach and scale-down repeats it.
    """
    ceilings = dict(previous)
    bounds = bounds or {}
    if starting(current):
        return ceilings
    p99 = observed_p99(observation, current)
    for key, dep in current.items():
        metrics = observation.per_deployment.get(key)
        rate = metrics.inferences_per_second if metrics is not None else None
        if key not in p99 or rate is None or rate <= 0 or dep.ready_replicas <= 0:
            continue
        if settled is not None and key not in settled:
            continue  # the window's rate and p99 are partly from before the count changed
        per_replica = rate / dep.ready_replicas
        if p99[key] > slo_ms:
            # Overloaded replicas complete no more than their capacity whatever arrives, and a
            # window that starts before a burst averages it away: neither rate is a ceiling.
            if not overloaded(metrics, settings, slo_ms=slo_ms):
                ceilings[key] = min(ceilings.get(key, per_replica), per_replica)
        elif key in ceilings and p99[key] <= settings.latency_margin * slo_ms:
            # Served well at this rate: probe up to the headroom above it, so the ceiling
            # lifts as fast as the fleet can shrink towards it (a breach brings it back), and
            # recover slowly besides, so a misjudged ceiling does not bind for good.
            recovered = ceilings[key] * (1.0 + settings.slo_ceiling_recovery)
            ceilings[key] = max(recovered, per_replica * (1.0 + headroom))
    # A ceiling above anything the profile could be learned up to binds nothing: forget it.
    return {key: c for key, c in ceilings.items() if c <= bounds.get(key, math.inf)}


def ceiling_bounds(
    spec: InferenceServiceSpec, pools: tuple[PoolView, ...], settings: EngineSettings
) -> dict[Key, float]:
    """Per (variant, pool): the most a replica could be learned to serve (`slo_ceilings`)."""
    accelerator = {pool.name: pool.spec.accelerator.type for pool in pools}
    bounds: dict[Key, float] = {}
    for variant in spec.variants:
        for pool, kind in accelerator.items():
            curve = profile_curve(variant, kind)
            if curve is not None:
                bounds[(variant.name, pool)] = max(curve.throughputs) * (
                    settings.learned_capacity_max
                )
    return bounds


def overloaded(
    metrics: DeploymentMetrics | None, settings: EngineSettings, *, slo_ms: float
) -> bool:
    """One deployment's replicas are overloaded: busy, or queueing past what batching waits,
    over the window or now (the pending queue takes longer than that to drain at the
    window's rate: a burst late in the window, which the window's means average away)."""
    if metrics is None:
        return False
    limit = settings.latency_margin * slo_ms
    if metrics.queue_ms is not None and metrics.queue_ms > limit:
        return True
    rate, pending = metrics.inferences_per_second, metrics.pending_requests
    if pending is not None and pending > 0 and (not rate or pending / rate * 1e3 > limit):
        return True
    busy = metrics.busy_fraction
    return busy is not None and busy >= settings.saturated_busy_fraction


def arrivals(
    observation: Observation, previous: Mapping[Key, tuple[float, float]], *, max_gap: float
) -> tuple[float, dict[Key, tuple[float, float]]]:
    """Demand with the growth of the request queues added, and the pending counts to keep.

    Completions under-state arrivals once replicas are saturated: what they cannot serve
    waits in the queue, so the queue's growth since the last observation (no older than
    `max_gap`) is demand too. Without pending counts this is the completions' rate.
    """
    demand = observation.demand_rps or 0.0
    seen: dict[Key, tuple[float, float]] = {}
    growth = 0.0
    for key, metrics in observation.per_deployment.items():
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
    """Deployments whose ready count has not changed for `window` seconds, and the new record.

    A deployment seen for the first time counts as settled (nothing says it changed).
    """
    since: dict[Key, tuple[float, int]] = {}
    for key, dep in current.items():
        last = previous.get(key)
        if last is None:
            since[key] = (now - window, dep.ready_replicas)
        elif last[1] != dep.ready_replicas:
            since[key] = (now, dep.ready_replicas)
        else:
            since[key] = last
    settled = frozenset(key for key, (t, _) in since.items() if now - t >= window)
    return settled, since


def breach_since(
    observation: Observation | None, *, slo_ms: float, previous: float | None, now: float
) -> float | None:
    """Start of the episode of p99 above the SLO that is under way now, or None."""
    p99 = observation.p99_latency_ms if observation is not None else None
    if p99 is None or p99 <= slo_ms:
        return None
    return now if previous is None else previous


def saturated(
    observation: Observation | None,
    current: Mapping[Key, CurrentDeployment],
    settings: EngineSettings,
    *,
    slo_ms: float,
) -> bool:
    """The ready replicas are overloaded: latency comes from waiting for capacity.

    Either they are busy (mean busy fraction at least `saturated_busy_fraction`) or requests
    queue longer than batching ever waits (batching keeps its delay under margin x SLO), which
    a busy fraction averaged over the scrape window shows only late.
    """
    if observation is None:
        return False
    ready = [
        (dep.ready_replicas, metrics)
        for key, dep in current.items()
        if dep.ready_replicas > 0 and (metrics := observation.per_deployment.get(key)) is not None
    ]
    queue_limit = settings.latency_margin * slo_ms
    if any(m.queue_ms is not None and m.queue_ms > queue_limit for _, m in ready):
        return True
    busy = [(n, m.busy_fraction) for n, m in ready if m.busy_fraction is not None]
    replicas = sum(n for n, _ in busy)
    if replicas == 0:
        return False
    return sum(n * b for n, b in busy) / replicas >= settings.saturated_busy_fraction


def starting(current: Mapping[Key, CurrentDeployment]) -> bool:
    """Replicas are still starting: latency now says nothing about capacity once they serve.

    SLO feedback waits for them; cutting capacity every interval of a several-minute start
    would compound into a large over-provision.
    """
    return any(dep.ready_replicas < dep.replicas for dep in current.values())


def _batch_observed(
    key: Key,
    metrics: DeploymentMetrics | None,
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
) -> float:
    """The batch the capacity sample was measured at: the observed mean batch when known.

    Inferences per busy second at partial load reflect the partly filled batches actually
    run, not `max_batch_size`; comparing them with the profile at the full batch would
    under-estimate capacity whenever the replicas are not saturated. Below the smallest
    profiled batch the profile is a guess, so the caller learns nothing there.
    """
    config: BatchConfig | None = current[key].batching or state.batching.get(key)
    configured = config.max_batch_size if config is not None else 1
    if metrics is not None and metrics.average_batch is not None and metrics.average_batch > 0:
        return min(float(configured), max(1.0, metrics.average_batch))
    return float(configured)


def remember_demand(
    history: tuple[tuple[float, float], ...],
    *,
    now: float,
    demand: float,
    keep_seconds: float,
    max_points: int,
) -> tuple[tuple[float, float], ...]:
    """History with this sample appended, trimmed by age and count (state stays small)."""
    kept = [(t, rps) for t, rps in history if now - keep_seconds <= t < now]
    kept.append((now, demand))
    return tuple(kept[-max_points:])


def recently_ready(
    ready_since: Mapping[Key, tuple[float, int]], *, now: float, window: float
) -> bool:
    """Some deployment's ready count changed within the metrics window: its latency window
    still holds the time before, so a breach then says nothing about the fleet that runs now."""
    return any(now - since < window for since, _ in ready_since.values())
