"""Triton's response cache in the plan: capacity for the misses, cost over every answer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import GPU, KEY, UNMODELLED, decision, pool, service

from infercost.engine.caching import cache_hit_ratio, for_compute
from infercost.engine.model import Observation
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit


def cached(demand: float, *, hits: float | None, misses: float | None) -> Observation:
    return Observation(
        time=0.0,
        demand_rps=demand,
        p99_latency_ms=None,
        cache_hits_per_second=hits,
        cache_misses_per_second=misses,
    )


def test_capacity_is_planned_for_the_misses_only() -> None:
    inp = decision(service([GPU]), [pool("l4")], demand=1000.0)
    without = decide(inp)
    assert inp.observation is not None
    # Half the requests answered from the cache: 500/s to compute, x 1.2 headroom = 600/s.
    observation = replace(inp.observation, cache_hits_per_second=500, cache_misses_per_second=500)
    plan = decide(replace(inp, observation=observation))
    by_key = {(a.variant, a.pool): a.replicas for a in plan.allocations}
    assert {(a.variant, a.pool): a.replicas for a in without.allocations} == {KEY: 3}
    assert by_key == {KEY: 2}
    # Cost per 1M counts every answered request, cached ones included.
    assert plan.demand_rps == pytest.approx(1000.0)
    assert plan.cost_per_million == pytest.approx(plan.hourly_cost / (1000.0 * 3600) * 1e6)


def test_the_hit_ratio_is_trusted_only_over_enough_lookups() -> None:
    settings = replace(UNMODELLED, cache_min_lookups=100, metrics_window_seconds=60)
    few = cached(2.0, hits=1.0, misses=0.5)  # 90 lookups in the window
    enough = cached(2.0, hits=1.0, misses=1.0)  # 120
    assert cache_hit_ratio(few, settings) == 0.0
    assert for_compute(few, settings).demand_rps == 2.0
    assert cache_hit_ratio(enough, settings) == pytest.approx(0.5)
    assert for_compute(enough, settings).demand_rps == pytest.approx(1.0)


def test_the_hit_ratio_is_bounded() -> None:
    """A restart empties the cache: the replicas must carry a share of demand regardless."""
    settings = replace(UNMODELLED, cache_max_hit_ratio=0.9)
    observation = cached(1000.0, hits=999.0, misses=1.0)
    assert cache_hit_ratio(observation, settings) == pytest.approx(0.9)
    assert for_compute(observation, settings).demand_rps == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("hits", "misses"),
    [(None, None), (0.0, 0.0), (float("nan"), 10.0), (-5.0, 10.0), (None, 100.0)],
)
def test_no_or_broken_cache_metrics_change_nothing(
    hits: float | None, misses: float | None
) -> None:
    observation = cached(1000.0, hits=hits, misses=misses)
    assert cache_hit_ratio(observation, UNMODELLED) == 0.0
    assert for_compute(observation, UNMODELLED) == observation
    assert cache_hit_ratio(None, UNMODELLED) == 0.0
