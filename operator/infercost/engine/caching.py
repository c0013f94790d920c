"""Triton's response cache in the plan: cached answers need no compute capacity.

A request Triton answers from its response cache never reaches the model, so the capacity
to plan for is the misses' share of demand only. The hit ratio is observed (Triton's
nv_cache_num_hits/misses_per_model) over the metrics window and planned with at the lower
end of what that many lookups support, and never above a bound: a cache is emptied by
every restart, and the replicas behind it must carry a cold cache's load for the time it
takes to warm up again.
Cost per 1M inferences still counts every answered request: a cached answer is a good one.
"""

from __future__ import annotations

import math
from dataclasses import replace
from statistics import NormalDist

from infercost.engine.cost import cost_per_million
from infercost.engine.model import EngineSettings, Observation, Plan


def _rate(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) and value > 0 else 0.0


def observed_hit_ratio(observation: Observation) -> float | None:
    """The share of lookups the cache answered, as observed; None without lookups."""
    hits = _rate(observation.cache_hits_per_second)
    lookups = hits + _rate(observation.cache_misses_per_second)
    return hits / lookups if lookups > 0 else None


def cache_hit_ratio(
    observation: Observation | None, settings: EngineSettings, *, late_share: float
) -> float:
    """The share of requests the cache answers, to plan capacity with.

    The lower bound of the hit ratio the window's lookups support (Wilson's score interval)
    at the confidence the SLO asks of latency, 1 - `late_share` (99% for a p99 SLO): a ratio
    seen over few lookups is planned with little, one seen over thousands nearly as seen,
    and without lookups the replicas are sized for every request.
    """
    if observation is None:
        return 0.0
    hits = _rate(observation.cache_hits_per_second)
    misses = _rate(observation.cache_misses_per_second)
    lookups = (hits + misses) * settings.metrics_window_seconds
    if lookups <= 0:
        return 0.0
    ratio = hits / (hits + misses)
    z = NormalDist().inv_cdf(1.0 - late_share)
    spread = z * math.sqrt(ratio * (1.0 - ratio) / lookups + z * z / (4.0 * lookups * lookups))
    lower = (ratio + z * z / (2.0 * lookups) - spread) / (1.0 + z * z / lookups)
    return max(0.0, min(lower, settings.cache_max_hit_ratio))


def for_compute(
    observation: Observation, settings: EngineSettings, *, late_share: float
) -> Observation:
    """The observation with demand cut to what the model must compute (the misses)."""
    ratio = cache_hit_ratio(observation, settings, late_share=late_share)
    if ratio <= 0 or observation.demand_rps is None:
        return observation
    return replace(observation, demand_rps=observation.demand_rps * (1.0 - ratio))


def counting_cached(
    plan: Plan, observation: Observation | None, settings: EngineSettings, *, late_share: float
) -> Plan:
    """The plan's demand and cost per 1M over every answered request, cached ones included."""
    ratio = cache_hit_ratio(observation, settings, late_share=late_share)
    if ratio <= 0 or plan.cost_per_million is None or observation is None:
        return plan
    # Exactly what for_compute took off: the plan's demand also holds the queue's growth and
    # rejections, which are computed requests (a cached answer is never queued).
    answered = plan.demand_rps + (observation.demand_rps or 0.0) * ratio
    return replace(
        plan, demand_rps=answered, cost_per_million=cost_per_million(plan.hourly_cost, answered)
    )
