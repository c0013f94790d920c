"""decide() on the failure modes the bursty simulator scenarios showed (issue 6).

Each test failed before the engine change it names.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service, variant

from infercost.engine.model import DeploymentMetrics, EngineSettings, Reason, ServiceState
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
    # 3600/s needs 9 replicas of 400/s; HPA's step (max(4, 100%)) allows 8 this interval.
    assert sum(a.replicas for a in second.allocations) == 8
    assert sum(a.replicas for a in first.allocations) == 4


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


def test_a_plan_change_mid_migration_keeps_the_scale_down_delay() -> None:
    # Every deployment is marked as leaving (the plan changed while replacements started).
    # Before the fix the target planned from nothing (a first placement for the demand of
    # the moment) and dropped 9 replicas at once despite the peak inside the delay.
    spot = ("gpu", "l4-spot")
    pools = [pool("l4"), pool("l4-spot", price=1.2)]
    history = tuple((NOW - 200.0 + 15.0 * i, 3000.0) for i in range(5))
    state = ServiceState(
        migrating_from=(KEY, spot),
        demand_history=history,
        scale_down_candidate_since=NOW - 600.0,
    )
    inp = decision(
        SPEC,
        pools,
        demand=100.0,
        p99=10.0,
        current={KEY: running(9), spot: running(1, ready=0)},
        state=state,
    )
    plan = decide(replace(inp, state=state))
    capacity = sum(a.replicas * a.throughput_per_replica for a in plan.allocations)
    assert capacity >= 3000.0


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


def test_a_scale_up_starts_its_replicas_where_the_fleet_ends_up_cheaper() -> None:
    # 3 T4 replicas must become 6 (3 to start) or 3 L4 (3 to start, $1.20/h less). The
    # last move was a minute ago: before the fix the cooldown kept the scale-up on T4.
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    plan = decide(
        decision(
            spec,
            TWO_POOLS,
            demand=1000.0,
            p99=20.0,
            current={T4: running(3)},
            state=ServiceState(last_move_time=NOW - 60.0),
        )
    )
    wanted = {(a.variant, a.pool): a.replicas for a in plan.allocations}
    assert wanted.get(L4_KEY, 0) == 3
    assert wanted[T4] == 3  # kept until the L4 replicas are ready


def test_a_replica_goes_only_with_spare_capacity_left() -> None:
    # Peak 320/s over the delay needs 384/s with 20% headroom: one replica (400/s) fits it
    # but not with HPA's 10% tolerance on top (422/s). Before the fix the fleet dropped to one.
    history = tuple((NOW - 240.0 + 15.0 * i, 320.0 if i == 0 else 100.0) for i in range(16))
    state = ServiceState(demand_history=history, scale_down_candidate_since=NOW - 600.0)
    plan = decide(
        decision(
            SPEC,
            [pool("l4")],
            demand=100.0,
            p99=10.0,
            current={KEY: running(2)},
            state=state,
        )
    )
    assert sum(a.replicas for a in plan.allocations) == 2


def test_a_re_placement_keeps_the_capacity_the_window_peak_needs() -> None:
    # 2 L4 (800/s) run; demand is 350/s now but was 600/s inside the scale-down delay.
    # Cheaper T4 replicas may take over, but not fewer than the peak needs (600 x 1.2 x
    # 1.1 = 792/s): before the fix the re-placement sized for 350/s and dropped to 3 T4.
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    history = ((NOW - 120.0, 600.0), (NOW - 60.0, 350.0))
    plan = decide(
        decision(
            spec,
            [pool("t4", accelerator="nvidia-t4", price=0.3), pool("l4", price=0.8)],
            demand=350.0,
            p99=10.0,
            current={L4_KEY: running(2)},
            state=ServiceState(demand_history=history),
        )
    )
    leaving = set(plan.state.migrating_from)  # kept only until their replacements are ready
    capacity = sum(
        a.replicas * a.throughput_per_replica
        for a in plan.allocations
        if (a.variant, a.pool) not in leaving
    )
    assert capacity >= 600.0 * 1.2 * 1.1 - 1e-6


def test_equal_share_routing_does_not_mix_replica_sizes() -> None:
    # One Service sends each replica an equal share: 2 L4 (400/s) + 1 spot T4 (100/s) serve
    # 3 x 100/s, not 900/s. Before the fix placement summed capacities and chose that mix.
    small = variant(
        "gpu",
        accelerators={"nvidia-l4": [(8, 400.0, 20.0)], "nvidia-t4": [(8, 100.0, 20.0)]},
    )
    spec = service([small], placement={"maxSpotFraction": 0.5}, scaling={"maxReplicas": 20})
    pools = [pool("l4", price=0.8), pool("spot", accelerator="nvidia-t4", price=0.1, spot=True)]
    shared = decide(decision(spec, pools, demand=700.0))
    # (Routing alone: the T4 point's 80 ms batch is past the SLO for the queueing model.)
    weighted = decide(
        decision(
            spec,
            pools,
            demand=700.0,
            settings=EngineSettings(equal_share_routing=False, modelled_ceilings=False),
        )
    )
    assert {a.pool for a in shared.allocations} == {"l4"}
    assert sum(a.replicas for a in shared.allocations) == 3
    assert "spot" in {a.pool for a in weighted.allocations}


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


def test_a_migration_under_way_is_not_reversed_while_its_destination_serves() -> None:
    # Replicas are moving from T4 to L4 and demand fell meanwhile, so two T4 replicas
    # would now be cheapest. Before the fix the plan turned back, dropping the starting L4s.
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    plan = decide(
        decision(
            spec,
            [pool("t4", accelerator="nvidia-t4", price=0.3), pool("l4", price=0.8)],
            demand=300.0,
            p99=10.0,
            current={T4: running(3), L4_KEY: running(2, ready=0)},
            state=ServiceState(migrating_from=(T4,)),
        )
    )
    wanted = {(a.variant, a.pool): a.replicas for a in plan.allocations}
    assert wanted.get(L4_KEY, 0) >= 1
    assert T4 in plan.state.migrating_from  # still only kept until L4 is ready


def test_a_move_for_savings_must_win_at_the_last_hours_peak() -> None:
    # At 150/s one T4 replica ($0.45/h) undercuts one L4 ($0.80/h), but 40 minutes ago
    # demand was 2000/s, where L4 replicas are cheaper (6 x $0.80 < 12 x $0.45). Before the
    # fix the fleet moved to T4 for the trough and would move back at the next surge, a
    # cold start each way.
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    history = ((NOW - 2400.0, 2000.0), (NOW - 600.0, 150.0), (NOW - 300.0, 150.0))
    inp = decision(
        spec,
        [pool("t4", accelerator="nvidia-t4", price=0.45), pool("l4", price=0.8)],
        demand=150.0,
        p99=10.0,
        current={L4_KEY: running(1)},
        state=ServiceState(demand_history=history),
    )
    plan = decide(inp)
    assert {(a.variant, a.pool) for a in plan.allocations} == {L4_KEY}
    quiet = decide(replace(inp, state=ServiceState(demand_history=history[1:])))
    assert T4 in {(a.variant, a.pool) for a in quiet.allocations}  # the move itself is sound


def test_the_forecast_looks_as_far_ahead_as_the_running_pools_start() -> None:
    # Demand rose 1/s for five minutes. The running pool starts replicas in 90 s; a far
    # pool nobody would pick takes 960 s. Before the fix the trend was read 960 s ahead
    # (twice the demand) and a third replica ordered; 90 s ahead two replicas still fit.
    pools = [pool("l4", provisioning=30), pool("slow", price=5.0, provisioning=900)]
    history = tuple((NOW - 300.0 + 30.0 * i, 100.0 + 30.0 * i) for i in range(10))
    plan = decide(
        decision(
            SPEC,
            pools,
            demand=400.0,
            p99=10.0,
            current={KEY: running(2)},
            state=ServiceState(demand_history=history),
            settings=EngineSettings(forecast_max_growth=2.0),  # the trend on
        )
    )
    assert sum(a.replicas for a in plan.allocations) == 2
