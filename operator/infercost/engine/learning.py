"""What the engine learns between decisions: capacity factors and demand history.

Both travel in `ServiceState`, so the same sequence of inputs always gives the same plans.
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
) -> dict[Key, float]:
    """Updated capacity factors: blend busy-time samples, cut where p99 broke the SLO."""
    learned = dict(state.learned_capacity)
    accelerator = {pool.name: pool.spec.accelerator.type for pool in pools}
    variants = {variant.name: variant for variant in spec.variants}
    p99 = observed_p99(observation, current)
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
        if sample is not None:
            batching = _batching_in_effect(key, current, state)
            learned[key] = blend_capacity_factor(
                previous=learned.get(key),
                prior_throughput=curve.throughput_at(batching),
                sample=sample,
                settings=settings,
            )
        if p99.get(key, 0.0) > spec.slo.latency_ms and not starting(current):
            cut = learned.get(key, 1.0) * settings.slo_breach_capacity_cut
            learned[key] = clamp_factor(cut, settings)
    return learned


def starting(current: Mapping[Key, CurrentDeployment]) -> bool:
    """Replicas are still starting: latency now says nothing about capacity once they serve.

    SLO feedback waits for them; cutting capacity every interval of a several-minute start
    would compound into a large over-provision.
    """
    return any(dep.ready_replicas < dep.replicas for dep in current.values())


def _batching_in_effect(
    key: Key, current: Mapping[Key, CurrentDeployment], state: ServiceState
) -> int:
    config: BatchConfig | None = current[key].batching or state.batching.get(key)
    return config.max_batch_size if config is not None else 1


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
