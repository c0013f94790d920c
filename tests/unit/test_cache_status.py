"""status.observed.cacheHitRatio: the response cache's share of answers, as observed (pure)."""

from __future__ import annotations

import pytest

from infercost.api.status import ServiceStatus
from infercost.controller import reporting
from infercost.engine.model import Observation, Plan, ServiceState

pytestmark = pytest.mark.unit


def plan() -> Plan:
    return Plan(
        allocations=(),
        actions=(),
        conditions=(),
        demand_rps=10.0,
        hourly_cost=0.0,
        cost_per_million=None,
        state=ServiceState(),
    )


def observed(hits: float | None, misses: float | None) -> dict[str, object]:
    observation = Observation(
        time=1000.0,
        demand_rps=10.0,
        p99_latency_ms=5.0,
        cache_hits_per_second=hits,
        cache_misses_per_second=misses,
    )
    out = reporting.desired_status(
        None, plan=plan(), ready={}, observation=observation, generation=1, now=1000.0
    )
    ServiceStatus.model_validate(out)  # what the CRD's schema accepts
    return dict(out["observed"])


def test_the_hit_ratio_is_reported_where_the_cache_reports() -> None:
    assert observed(3.0, 7.0)["cacheHitRatio"] == 0.3
    assert observed(0.0, 5.0)["cacheHitRatio"] == 0.0


@pytest.mark.parametrize(("hits", "misses"), [(None, None), (0.0, 0.0), (float("nan"), None)])
def test_no_lookups_no_hit_ratio(hits: float | None, misses: float | None) -> None:
    assert "cacheHitRatio" not in observed(hits, misses)
