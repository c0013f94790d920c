"""SLO ceilings: the per-replica load at which p99 broke the SLO (or Triton's queue timeout
rejected more of the waiting-time tail than the SLO allows), a property of the traffic.

Busy time says what a replica can execute; the SLO holds only below some lower load that
depends on the traffic's burstiness, which no profile knows. A breach on one pool says the
same about every pool (requests reach replicas in equal shares whatever they run on), so a
ceiling is kept per (variant, pool) as a rate but set and recovered for all of them as a
fraction of each one's profiled throughput: otherwise a pool never tried looks better than
the one that just breached, and placement churns between them re-learning each.

Before any breach, a ceiling comes from the batcher's queueing model (engine/queueing.py)
where it predicts the SLO breaks below what the option is priced at: a model slow against
its SLO (a 28 ms batch under 60 ms) breaks it well below its throughput, and learning that
from breaches costs one episode per step of the fleet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from infercost.api.service import InferenceServiceSpec
from infercost.engine.cost import profile_curve
from infercost.engine.learning import observed_p99, starting
from infercost.engine.model import (
    BatchConfig,
    CurrentDeployment,
    EngineSettings,
    Observation,
    PoolView,
)
from infercost.engine.options import Key, Option
from infercost.engine.queueing import MAX_LOAD, slo_safe_load, table_key
from infercost.engine.signals import overloaded


def slo_ceilings(
    previous: Mapping[Key, float],
    *,
    observation: Observation,
    current: Mapping[Key, CurrentDeployment],
    slo_ms: float,
    headroom: float,
    settings: EngineSettings,
    priors: Mapping[Key, float],
    settled: frozenset[Key] | None = None,
    tail_rejecting: frozenset[Key] = frozenset(),
) -> dict[Key, float]:
    """Per-replica rates at which p99 broke the SLO, raised when a higher rate is served well.

    `priors` is each (variant, pool)'s profiled throughput at its batching: a breach at a
    share of it on one pool sets that share of the profile as every pool's ceiling. Without
    this memory the busy-time samples pull capacity back up after each breach and
    scale-down repeats it.
    """
    ceilings = dict(previous)
    if starting(current):
        return ceilings
    p99 = observed_p99(observation, current)
    breach: float | None = None  # lowest share of the profile at which p99 broke the SLO
    served = 0.0  # highest share served well, plus the headroom to probe
    healthy = False
    for key, dep in current.items():
        metrics = observation.per_deployment.get(key)
        rate = metrics.inferences_per_second if metrics is not None else None
        prior = priors.get(key, 0.0)
        if key not in p99 or rate is None or rate <= 0 or dep.ready_replicas <= 0 or prior <= 0:
            continue
        if settled is not None and key not in settled:
            continue  # the window's rate and p99 are partly from before the count changed
        share = rate / dep.ready_replicas / prior
        if key in tail_rejecting:
            # Triton rejects the waiting-time tail at this load (below capacity): the load
            # offered, served and rejected, is where the SLO broke.
            rejected = metrics.rejected_per_second if metrics is not None else None
            share = (rate + (rejected or 0.0)) / dep.ready_replicas / prior
            breach = share if breach is None else min(breach, share)
        elif p99[key] > slo_ms:
            # Overloaded replicas complete no more than their capacity whatever arrives, and a
            # window that starts before a burst averages it away: neither rate is a ceiling.
            if not overloaded(metrics, settings, slo_ms=slo_ms):
                breach = share if breach is None else min(breach, share)
        elif p99[key] <= settings.latency_margin * slo_ms:
            healthy = True
            served = max(served, share * (1.0 + headroom))
    if breach is not None:
        for key, prior in priors.items():
            ceilings[key] = min(ceilings.get(key, math.inf), breach * prior)
    elif healthy:
        # Served well: probe up to the headroom above the load served, so the ceiling lifts
        # as fast as the fleet can shrink towards it (a breach brings it back), and recover
        # slowly besides, so a misjudged ceiling does not bind for good.
        recovery = 1.0 + settings.slo_ceiling_recovery
        for key, ceiling in ceilings.items():
            ceilings[key] = max(ceiling * recovery, served * priors.get(key, 0.0))
    # A ceiling above anything the profile could be learned up to binds nothing: forget it.
    most = settings.learned_capacity_bound
    return {k: c for k, c in ceilings.items() if k in priors and c <= priors[k] * most}


def profile_priors(
    spec: InferenceServiceSpec,
    pools: tuple[PoolView, ...],
    batching: Mapping[Key, BatchConfig],
) -> dict[Key, float]:
    """Per (variant, pool): the profiled throughput of one replica at its batching (the
    configured `max_batch_size` where known, else the largest profiled batch)."""
    accelerator = {pool.name: pool.spec.accelerator.type for pool in pools}
    priors: dict[Key, float] = {}
    for variant in spec.variants:
        for pool, kind in accelerator.items():
            curve = profile_curve(variant, kind)
            if curve is None:
                continue
            config = batching.get((variant.name, pool))
            batch = config.max_batch_size if config is not None else curve.max_batch
            priors[(variant.name, pool)] = curve.throughput_at(float(batch))
    return priors


def modelled_ceilings(
    spec: InferenceServiceSpec, options: list[Option], *, known: Mapping[Key, float]
) -> dict[Key, float]:
    """Per option holding no ceiling yet: the per-replica rate at which the queueing model
    (Poisson arrivals, the option's batching and queue timeout) serves less than the SLO's
    percentile within its latency, where that is below the load the headroom plans for.

    Only such a limit counts: the fleet is sized to carry demand x (1 + headroom), so in a
    steady state its replicas run below throughput / (1 + headroom) and a limit above that
    binds only while it scales anyway; a fast model keeps learning from metrics alone."""
    attainment = spec.slo.percentile / 100.0
    planned = 1.0 / (1.0 + spec.scaling.headroom)
    variants = {variant.name: variant for variant in spec.variants}
    ceilings: dict[Key, float] = {}
    for option in options:
        if option.key in known or option.batching is None or option.throughput <= 0:
            continue
        profile = profile_curve(variants[option.variant], option.accelerator_type)
        if profile is None:
            continue
        key = table_key(profile.execution, option.batching.config, spec.slo.latency_ms)
        # Only a limit below the planned load counts, so the model is asked no further up.
        binding = option.throughput * planned
        safe = slo_safe_load(key, attainment, enough_rate=binding)
        if safe.share < MAX_LOAD and safe.rate < binding:
            ceilings[option.key] = safe.rate
    return ceilings
