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


def test_the_hit_ratio_planned_with_is_what_the_lookups_support() -> None:
    """Wilson's lower bound at the SLO's confidence: little over few lookups, nearly the
    ratio seen over many, never above it."""
    settings = replace(UNMODELLED, metrics_window_seconds=60)
    p99, p90 = 0.01, 0.10

    def planned(lookups_per_second: float, late_share: float = p99) -> float:
        half = lookups_per_second / 2
        return cache_hit_ratio(cached(2.0, hits=half, misses=half), settings, late_share=late_share)

    few, some, many = planned(0.5), planned(2.0), planned(1000.0)  # 30, 120, 60,000 lookups
    assert few < some < many < 0.5
    # Wilson at z = 2.326 (p99): 30 lookups at 0.5 support 0.305, 120 support 0.396.
    assert few == pytest.approx(0.3045, abs=1e-3)
    assert some == pytest.approx(0.3961, abs=1e-3)
    assert many == pytest.approx(0.5, abs=0.006)
    # A looser SLO asks less confidence: a higher ratio from the same lookups.
    assert planned(2.0, late_share=p90) > some
    enough = cached(2.0, hits=500.0, misses=500.0)
    assert for_compute(enough, settings, late_share=p99).demand_rps == pytest.approx(
        2.0 * (1 - cache_hit_ratio(enough, settings, late_share=p99))
    )


def test_the_hit_ratio_is_bounded() -> None:
    """A restart empties the cache: the replicas must carry a share of demand regardless."""
    settings = replace(UNMODELLED, cache_max_hit_ratio=0.9)
    observation = cached(1000.0, hits=999.0, misses=1.0)
    assert cache_hit_ratio(observation, settings, late_share=0.01) == pytest.approx(0.9)
    assert for_compute(observation, settings, late_share=0.01).demand_rps == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("hits", "misses"),
    [(None, None), (0.0, 0.0), (float("nan"), 10.0), (-5.0, 10.0), (None, 100.0)],
)
def test_no_or_broken_cache_metrics_change_nothing(
    hits: float | None, misses: float | None
) -> None:
    observation = cached(1000.0, hits=hits, misses=misses)
    assert cache_hit_ratio(observation, UNMODELLED, late_share=0.01) == 0.0
    assert for_compute(observation, UNMODELLED, late_share=0.01) == observation
    assert cache_hit_ratio(None, UNMODELLED, late_share=0.01) == 0.0
