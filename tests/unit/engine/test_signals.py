"""What the metrics say beyond their face value (engine/signals.py): arrivals hidden in the
queue, and windows that describe a fleet other than the one running now.

Each test failed before the engine change it names (the bursty simulator scenarios, issue 6).
"""

from __future__ import annotations

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service

from infercost.engine.model import DeploymentMetrics, Reason, ServiceState
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit
SPEC = service([GPU], scaling={"maxReplicas": 50})


def overloaded(rate: float, *, pending: float | None = None) -> DeploymentMetrics:
    return DeploymentMetrics(
        inferences_per_second=rate,
        busy_fraction=0.98,
        average_batch=8.0,
        queue_ms=900.0,
        pending_requests=pending,
    )


def healthy(rate: float, *, busy: float) -> DeploymentMetrics:
    return DeploymentMetrics(
        inferences_per_second=rate, busy_fraction=busy, average_batch=8.0, queue_ms=5.0
    )


def test_queue_growth_is_demand() -> None:
    # Saturated replicas complete 1600/s; the queue grew by 30,000 in 15 s: 2000/s more
    # arrive than they serve. Completions alone would size the fleet for 1600/s.
    spec = service([GPU], scaling={"maxReplicas": 50, "headroom": 0.0})
    first = decide(
        decision(
            spec,
            [pool("l4")],
            demand=1600.0,
            p99=30.0,
            current={KEY: running(4)},
            per_deployment={KEY: overloaded(1600.0, pending=0.0)},
        )
    )
    second = decide(
        decision(
            spec,
            [pool("l4")],
            demand=1600.0,
            p99=30.0,
            current={KEY: running(4)},
            per_deployment={KEY: overloaded(1600.0, pending=30000.0)},
            state=first.state,
            now=NOW + 15,
        )
    )
    assert second.demand_rps == pytest.approx(3600.0)
    # 3600/s needs 9 replicas of 400/s, ordered at once.
    assert sum(a.replicas for a in second.allocations) >= 9
    assert sum(a.replicas for a in first.allocations) == 4


def test_capacity_is_not_learned_while_the_window_mixes_replica_counts() -> None:
    # 2 replicas were ready at the last decision, 4 now: the window's rate was served by
    # fewer replicas for most of it, so rate / 4 / busy reads low. Learn nothing yet.
    state = ServiceState(ready_since={KEY: (NOW - 300.0, 2)}, learned_capacity={KEY: 1.0})
    plan = decide(
        decision(
            SPEC,
            [pool("l4")],
            demand=400.0,
            p99=10.0,
            current={KEY: running(4)},
            per_deployment={KEY: healthy(400.0, busy=0.5)},  # 200/s per busy second
            state=state,
        )
    )
    assert plan.state.learned_capacity[KEY] == pytest.approx(1.0)
    assert plan.state.ready_since[KEY] == (NOW, 4)


def test_p99_from_before_new_replicas_served_does_not_scale_up() -> None:
    # Replicas became ready 15 s ago: the window's p99 is the overload they just ended.
    state = ServiceState(ready_since={KEY: (NOW - 15.0, 4)})
    plan = decide(
        decision(
            SPEC,
            [pool("l4")],
            demand=1000.0,
            p99=3000.0,
            current={KEY: running(4)},
            per_deployment={KEY: healthy(1000.0, busy=0.6)},
            state=state,
        )
    )
    assert sum(a.replicas for a in plan.allocations) == 4
    assert Reason.LATENCY_ABOVE_SLO not in {a.reason for a in plan.actions}
