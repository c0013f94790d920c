"""What the engine learns between decisions: capacity factors (demand history is recall.py).

They travel in `ServiceState`, so the same sequence of inputs always gives the same plans.
"""

from __future__ import annotations

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
from infercost.engine.signals import overloaded, queueing


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


def untried_factor(learned: Mapping[Key, float], key: Key) -> float:
    """The factor to plan an option with before it has run: the lowest learned on the same
    variant's other pools, else 1 (the profile).

    A profile is often wrong for the model rather than for one accelerator (longer inputs
    than profiled, another Triton version): a variant found slower on one pool is likely
    slower on the next. Planning a move to an untried pool at its profile's speed moved
    fleets onto pools 30% short (servers 1.3x slower than profiled: a p99 of 3.2 s for
    minutes after the move). Where only the first pool was wrong, the untried one is
    under-rated until its own samples (a few intervals) correct it.
    """
    if key in learned:
        return learned[key]
    others = [factor for (variant, _), factor in learned.items() if variant == key[0]]
    return min(others, default=1.0)


def learn_capacity(
    *,
    spec: InferenceServiceSpec,
    pools: tuple[PoolView, ...],
    observation: Observation,
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
    settings: EngineSettings,
    settled: frozenset[Key] = frozenset(),
    latency_current: bool = True,
) -> dict[Key, float]:
    """Updated capacity factors: blend busy-time samples and cut where p99 broke the SLO.

    What a replica executes is the pool's; the load at which the SLO breaks is the
    traffic's, kept apart (`ceilings.slo_ceilings`) and applied to every pool when options
    are priced, so a pool's factor recovers with its own samples.

    Samples count only on `settled` deployments (ready count unchanged over the metrics
    window: a rate over a window in which replicas joined, divided by today's count, reads
    low). The cut happens once per breach episode (`state.slo_breach_since` is None before
    it) and only on fully started replicas that are not overloaded: repeated every interval
    it compounds into a deep over-provision, and an overloaded replica's latency is queueing
    for capacity it already reports (and for `summary_lag_seconds` after the overload:
    `latency_current` False). A cut on a lightly loaded replica whose p99 broke the SLO for
    another reason (its batch's execution) is undone by the samples that follow: each
    blends the throughput the replica shows back in.
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
            sample = capacity_sample(metrics, replicas=ready)
        batch = _batch_observed(key, metrics, current, state) if metrics is not None else None
        # An average batch within half a request of the smallest profiled one is that batch
        # run nearly full (a profile of one point: the batch of published figures, which a
        # loaded replica runs with now and then one short). Its throughput is at least what
        # such a batch reaches, so the sample, compared with it, errs low by less than half
        # a request in that batch. Farther below it the profile is a guess (off by up to the
        # smallest batch over the one run), so nothing is learned there.
        smallest = curve.batch_sizes[0]
        usable = key in settled and batch is not None and batch >= smallest - 0.5
        if sample is not None and batch is not None and usable:
            learned[key] = blend_capacity_factor(
                previous=untried_factor(learned, key),
                prior_throughput=curve.throughput_at(max(batch, smallest)),
                sample=sample,
                settings=settings,
            )
        if (
            new_episode
            and latency_current
            and key in settled
            and p99.get(key, 0.0) > spec.slo.latency_ms
            and not overloaded(metrics, settings, slo_ms=spec.slo.latency_ms)
        ):
            cut = untried_factor(learned, key) * settings.slo_breach_capacity_cut
            learned[key] = clamp_factor(cut, settings)
    return learned


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
    if waiting_for_capacity(observation, current, settings, slo_ms=slo_ms):
        return True
    ready = [
        (dep.ready_replicas, metrics)
        for key, dep in current.items()
        if dep.ready_replicas > 0 and (metrics := observation.per_deployment.get(key)) is not None
    ]
    busy = [(n, m.busy_fraction) for n, m in ready if m.busy_fraction is not None]
    replicas = sum(n for n, _ in busy)
    if replicas == 0:
        return False
    return sum(n * b for n, b in busy) / replicas >= settings.saturated_busy_fraction


def waiting_for_capacity(
    observation: Observation | None,
    current: Mapping[Key, CurrentDeployment],
    settings: EngineSettings,
    *,
    slo_ms: float,
) -> bool:
    """Requests wait on some ready deployment longer than batching ever waits: completions
    (and a client that caps its connections keeps the rest out of the queue) under-state the
    arrivals, so demand read now is no reason for fewer replicas."""
    if observation is None:
        return False
    return any(
        queueing(metrics, settings, slo_ms=slo_ms)
        for key, metrics in observation.per_deployment.items()
        if key in current and current[key].ready_replicas > 0
    )


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
