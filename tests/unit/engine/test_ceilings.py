"""SLO ceilings learned from breaches (engine/ceilings.py): set only by a breach that is
not overload, recovered while p99 is healthy, bounded by the profile, shared by every pool.

Each test failed before the engine change it names (the bursty simulator scenarios, issue 6).
Ceilings the queueing model sets before any breach are test_modelled_ceilings.py.
"""

from __future__ import annotations

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service, variant

from infercost.engine.model import DeploymentMetrics, ServiceState
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


T4_AND_L4 = variant(
    "gpu",
    accelerators={
        "nvidia-t4": [(8, 200.0, 20.0)],
        "nvidia-l4": [(8, 400.0, 20.0)],
    },
)
T4 = ("gpu", "t4")
L4_KEY = ("gpu", "l4")
TWO_POOLS = [pool("t4", accelerator="nvidia-t4", price=0.6), pool("l4", price=0.8)]
L4 = ("gpu", "l4")


def test_an_overloaded_breach_sets_no_ceiling_and_cuts_no_capacity() -> None:
    # A burst began late in the 1-minute window: the window's mean rate (100/s per replica)
    # is far below what the saturated replicas execute. Before the fix that rate became the
    # SLO ceiling (capacity collapsed to a quarter of the profile) and capacity was cut 10%.
    def learn(p99: float) -> ServiceState:
        return decide(
            decision(
                SPEC,
                [pool("l4")],
                demand=200.0,
                p99=p99,
                current={KEY: running(2)},
                per_deployment={KEY: overloaded(200.0)},
            )
        ).state

    breach, calm = learn(5000.0), learn(20.0)
    assert KEY not in breach.slo_ceiling
    # Busy-time samples still count; only the breach's cut (x0.9) is withheld.
    assert breach.learned_capacity[KEY] == pytest.approx(calm.learned_capacity[KEY])


def test_a_ceiling_recovers_while_p99_is_healthy() -> None:
    state = ServiceState(slo_ceiling={KEY: 100.0})
    now = NOW
    for _ in range(10):
        now += 15
        state = decide(
            decision(
                SPEC,
                [pool("l4")],
                demand=200.0,
                p99=10.0,
                current={KEY: running(4)},
                per_deployment={KEY: healthy(200.0, busy=0.3)},
                state=state,
                now=now,
            )
        ).state
    assert state.slo_ceiling[KEY] == pytest.approx(100.0 * 1.01**10)


def test_a_ceiling_beyond_the_profile_is_forgotten() -> None:
    state = ServiceState(slo_ceiling={KEY: 4999.0})  # profile 500/s x learned max 10
    plan = decide(
        decision(
            SPEC,
            [pool("l4")],
            demand=200.0,
            p99=10.0,
            current={KEY: running(4)},
            per_deployment={KEY: healthy(200.0, busy=0.3)},
            state=state,
        )
    )
    assert KEY not in plan.state.slo_ceiling


def test_a_burst_late_in_the_window_is_overload_not_a_ceiling() -> None:
    # The window's means look calm (busy 0.47, queue 28 ms) because the burst began seconds
    # before the scrape; the queue waiting now (20,000 requests at 4,258/s) says overload.
    # Before the fix the window's rate became the SLO ceiling: capacity fell to 0.47x.
    calm_means = DeploymentMetrics(
        inferences_per_second=1600.0,
        busy_fraction=0.47,
        average_batch=8.0,
        queue_ms=28.0,
        pending_requests=20000.0,
    )
    plan = decide(
        decision(
            SPEC,
            [pool("l4")],
            demand=1600.0,
            p99=600.0,
            current={KEY: running(4)},
            per_deployment={KEY: calm_means},
        )
    )
    assert KEY not in plan.state.slo_ceiling


def test_a_ceiling_learned_on_one_pool_binds_every_pool() -> None:
    # p99 broke the SLO on L4 at half its profile with calm replicas: the traffic's
    # burstiness, which a T4 replica meets at half its profile too. Before the fix only L4
    # got a ceiling, so the untried T4 pool looked better and placement moved there.
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    plan = decide(
        decision(
            spec,
            TWO_POOLS,
            demand=400.0,
            p99=80.0,
            current={L4_KEY: running(2)},
            per_deployment={L4_KEY: healthy(400.0, busy=0.5)},
        )
    )
    assert plan.state.slo_ceiling[L4_KEY] == pytest.approx(200.0)
    assert plan.state.slo_ceiling[T4] == pytest.approx(100.0)
