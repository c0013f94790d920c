"""decide() under overload, during starts and at zero demand: the defects the simulator found.

Each test failed before the fix it names (see the simulator bench in the tuning report).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import GPU, KEY, NOW, UNMODELLED, decision, pool, running, service, variant

from infercost.engine.model import DeploymentMetrics, EngineSettings, Plan, Reason, ServiceState
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit
SPOT = ("gpu", "l4-spot")
POOLS = [pool("l4", price=1.0), pool("l4-spot", price=0.2, spot=True)]


def replicas(plan: Plan) -> dict[tuple[str, str], int]:
    return {(a.variant, a.pool): a.replicas for a in plan.allocations}


def reasons(plan: Plan) -> set[Reason]:
    return {action.reason for action in plan.actions}


def metrics(
    rate: float, *, busy: float, batch: float = 8.0, queue_ms: float = 5.0
) -> DeploymentMetrics:
    return DeploymentMetrics(
        inferences_per_second=rate, busy_fraction=busy, average_batch=batch, queue_ms=queue_ms
    )


@pytest.mark.parametrize(
    ("busy", "queue_ms", "batch"),
    [
        (0.95, 5.0, 8),  # saturated replicas: the breach is queueing, keep the batch
        (0.5, 400.0, 8),  # requests wait far longer than batching ever waits: overload too
        (0.3, 5.0, 4),  # idle-ish replicas breaching: the batch is the cause, halve it
        # Not saturated, but batch 4 serves 280/s to batch 8's 400/s: 0.6 busy now is 0.86
        # at half the batch, past saturated_busy_fraction: halving would only queue more.
        (0.6, 5.0, 8),
    ],
)
def test_batch_is_halved_only_when_the_replicas_are_not_overloaded(
    busy: float, queue_ms: float, batch: int
) -> None:
    inp = decision(
        service([GPU]),
        [pool("l4")],
        demand=800.0 * busy,
        p99=80.0,
        current={KEY: running(2)},
        per_deployment={KEY: metrics(800.0 * busy, busy=busy, queue_ms=queue_ms)},
    )
    plan = decide(inp)
    assert plan.allocations[0].batching.max_batch_size == batch
    assert (Reason.BATCHING_REDUCED_FOR_LATENCY in reasons(plan)) == (batch < 8)


def test_a_breach_where_half_the_batch_would_overload_adds_a_replica_instead() -> None:
    # family-21-17-flat (seed 21): one replica 82% busy at full batches of 32 broke the SLO
    # on noise; halving cut its throughput, p99 rose to 151 ms, and five more halvings took
    # the batch to 1 and the fleet through three pools (cost 3.1x the oracle's).
    inp = decision(
        service([GPU]),
        [pool("l4")],
        demand=240.0,
        p99=80.0,
        current={KEY: running(1)},
        per_deployment={KEY: metrics(240.0, busy=0.6)},
    )
    plan = decide(inp)
    assert plan.allocations[0].batching.max_batch_size == 8
    assert replicas(plan) == {KEY: 2}
    assert Reason.LATENCY_ABOVE_SLO in reasons(plan)


def test_a_breach_from_before_the_batch_was_halved_does_not_halve_it_again() -> None:
    # The metrics window still holds the latency of the batch that broke the SLO for a
    # window after the halving: halving again on it cascaded batch 8 to 1 in 45 s on the
    # Twitter scenario. Once a window has passed under the new batch, a breach halves again.
    def after(seconds: float, plan: Plan) -> Plan:
        (allocation,) = plan.allocations
        runs = replace(running(2), batching=allocation.batching)
        return decide(
            decision(
                service([GPU]),
                [pool("l4")],
                demand=240.0,
                p99=80.0,
                current={KEY: runs},
                per_deployment={KEY: metrics(240.0, busy=0.3)},
                state=plan.state,
                now=NOW + seconds,
            )
        )

    first = decide(
        decision(
            service([GPU]),
            [pool("l4")],
            demand=240.0,
            p99=80.0,
            current={KEY: running(2)},
            per_deployment={KEY: metrics(240.0, busy=0.3)},
        )
    )
    assert first.allocations[0].batching.max_batch_size == 4
    held = after(15, first)
    assert held.allocations[0].batching.max_batch_size == 4
    assert Reason.BATCHING_REDUCED_FOR_LATENCY not in reasons(held)
    halved = after(75, held)
    assert halved.allocations[0].batching.max_batch_size == 2
    assert Reason.BATCHING_REDUCED_FOR_LATENCY in reasons(halved)


def test_overload_scales_up_multiplicatively() -> None:
    # 4 saturated replicas complete 1600/s (their capacity) with p99 at 10x the SLO: the
    # arrivals are unknown but larger; one more replica per interval would take minutes.
    inp = decision(
        service([GPU], scaling={"maxReplicas": 50}),
        [pool("l4")],
        demand=1600.0,
        p99=500.0,
        current={KEY: running(4)},
        per_deployment={KEY: metrics(1600.0, busy=0.98)},
    )
    plan = decide(inp)
    assert replicas(plan)[KEY] == 8  # capacity doubled (HPA v2's 100% per interval)
    assert Reason.LATENCY_ABOVE_SLO in reasons(plan)


def test_capacity_is_cut_once_per_breach_episode() -> None:
    inp = decision(service([GPU]), [pool("l4")], demand=300.0, p99=80.0, current={KEY: running(2)})
    first = decide(inp)
    second = decide(
        replace(
            inp,
            state=first.state,
            now=NOW + 15,
            observation=replace(inp.observation, time=NOW + 15),
        )
    )  # type: ignore[arg-type]
    assert first.state.learned_capacity[KEY] == pytest.approx(0.9)
    assert second.state.learned_capacity[KEY] == pytest.approx(0.9)  # not 0.81
    assert first.state.slo_breach_since == NOW


def test_capacity_learned_at_partial_batches_is_not_under_estimated() -> None:
    # 2 replicas at half load run batches of 4: 150/s each at busy 0.5 = 300/s per busy
    # second, above the profile at batch 4 (280/s) though below batch 8's 400/s.
    inp = decision(
        service([GPU]),
        [pool("l4")],
        demand=300.0,
        current={KEY: running(2)},
        per_deployment={KEY: metrics(300.0, busy=0.5, batch=4.0)},
    )
    assert decide(inp).state.learned_capacity[KEY] >= 1.0


def test_no_move_while_replicas_start() -> None:
    # Two replicas still start on l4: moving to the cheaper spot pool now would cancel them.
    inp = decision(service([GPU]), POOLS, demand=1000.0, current={KEY: running(4, ready=2)})
    plan = decide(inp)
    assert replicas(plan) == {KEY: 4}
    assert Reason.MOVED_TO_CHEAPER_POOL not in reasons(plan)


def test_no_move_during_an_slo_breach() -> None:
    inp = decision(
        service([GPU]),
        POOLS,
        demand=1200.0,
        p99=80.0,
        current={KEY: running(4)},
        per_deployment={KEY: metrics(1200.0, busy=0.5)},
    )
    plan = decide(inp)
    assert SPOT not in replicas(plan)


def test_zero_demand_keeps_the_replicas_for_the_scale_down_delay() -> None:
    # Demand fell to 0 just now: the scale-down delay holds the 9 replicas, and no move to a
    # cheaper pool empties the running one meanwhile (its replacements would not be ready).
    inp = decision(
        service([GPU], scaling={"maxReplicas": 20}), POOLS, demand=0.0, current={KEY: running(9)}
    )
    plan = decide(inp)
    assert replicas(plan) == {KEY: 9}
    assert Reason.SCALE_DOWN_DELAYED in reasons(plan) or Reason.MOVE_COOLDOWN in reasons(plan)


def test_scale_down_does_not_return_to_the_load_that_broke_the_slo() -> None:
    # One replica breached the SLO at 300/s although busy time says it executes 400/s; after
    # scaling up, busy-time samples must not lift capacity back so that the delay's scale-down
    # returns to one replica at 300/s (the 10-minute breach cycle of the Twitter scenario).
    spec = service([GPU], scaling={"maxReplicas": 10, "scaleDownDelaySeconds": 60})
    breach = decide(
        decision(
            spec,
            [pool("l4")],
            demand=300.0,
            p99=80.0,
            current={KEY: running(1)},
            per_deployment={KEY: metrics(300.0, busy=0.75)},
        )
    )
    assert breach.state.slo_ceiling[KEY] == pytest.approx(300.0)
    state, now = breach.state, NOW
    for _ in range(12):  # three minutes at 2 replicas, p99 well inside the SLO
        now += 15
        plan = decide(
            decision(
                spec,
                [pool("l4")],
                demand=300.0,
                p99=20.0,
                current={KEY: running(2)},
                per_deployment={KEY: metrics(300.0, busy=0.375)},
                state=state,
                now=now,
            )
        )
        state = plan.state
        assert replicas(plan)[KEY] == 2


SPEC = service([GPU], scaling={"maxReplicas": 50})
T4_AND_L4 = variant(
    "gpu",
    accelerators={
        "nvidia-t4": [(8, 200.0, 20.0)],
        "nvidia-l4": [(8, 400.0, 20.0)],
    },
)
T4 = ("gpu", "t4")
L4_KEY = ("gpu", "l4")
L4 = ("gpu", "l4")


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


def test_a_p99_left_from_an_overload_that_ended_is_no_reason_to_grow() -> None:
    # Triton's p99 summaries keep a minute of answers: once the queue has emptied (the load
    # fell, or replicas joined), the overload's waits still read as a breach for as long as
    # the summaries outlast the rates' window (52 s with the sandbox's 8 s rates). Acted on,
    # they added replicas and cut the learned ceiling at the low load of the moment (the
    # sandbox's step test: 3 -> 5 replicas at 30/s, 10.6/s per replica).
    spec = service([GPU], scaling={"maxReplicas": 50})
    settings = EngineSettings(modelled_ceilings=False, summary_lag_seconds=52.0)
    overload = decide(
        decision(
            spec,
            [pool("l4")],
            demand=1600.0,
            p99=500.0,
            current={KEY: running(4)},
            per_deployment={KEY: metrics(1600.0, busy=0.98)},
            settings=settings,
        )
    )
    assert overload.state.saturated_at == NOW

    def after(seconds: float) -> Plan:
        return decide(
            decision(
                spec,
                [pool("l4")],
                demand=600.0,
                p99=500.0,
                current={KEY: running(4)},
                per_deployment={KEY: metrics(600.0, busy=0.4)},
                state=overload.state,
                now=NOW + seconds,
                settings=settings,
            )
        )

    lingering = after(30.0)
    assert Reason.LATENCY_ABOVE_SLO not in reasons(lingering)
    assert replicas(lingering)[KEY] <= 4
    assert lingering.state.slo_ceiling == overload.state.slo_ceiling
    # Busy-time samples still blend in; the once-per-breach cut (x 0.9) does not come.
    cut = settings.slo_breach_capacity_cut
    assert lingering.state.learned_capacity[KEY] > cut * overload.state.learned_capacity[KEY]
    # Once the summaries have forgotten the overload, a p99 above the SLO is this fleet's.
    breach = after(60.0)
    assert Reason.LATENCY_ABOVE_SLO in reasons(breach)
    assert replicas(breach)[KEY] > 4


@pytest.mark.parametrize(("queue_ms", "kept"), [(5.0, False), (400.0, True)])
def test_no_replica_goes_while_requests_wait_for_capacity(queue_ms: float, kept: bool) -> None:
    # Completions are capped by capacity, and a client that caps its connections keeps the
    # rest of the arrivals out of Triton's queue: demand reads low while requests wait far
    # longer than batching ever waits. The sandbox's step test removed a replica mid-overload
    # that way (3 -> 2 -> 3); the family's worst scenario costs 5% less without it.
    low_for_long = ServiceState(
        demand_history=((NOW - 900.0, 300.0), (NOW - 450.0, 300.0)),
        scale_down_candidate_since=NOW - 900.0,
    )
    plan = decide(
        decision(
            service([GPU]),
            [pool("l4")],
            demand=300.0,
            current={KEY: running(4)},
            per_deployment={KEY: metrics(300.0, busy=0.5, queue_ms=queue_ms)},
            state=low_for_long,
        )
    )
    assert (replicas(plan)[KEY] == 4) == kept, plan.actions


def test_a_breach_asks_for_one_replica_more_capacity_not_one_replica_more() -> None:
    # family-22-26-diurnal-steep (seed 22): "one replica more" on a breach was a count, so a
    # fleet of large replicas answered it with smaller ones elsewhere that together added
    # less than one of its own (4 Inferentia replicas for 2 T4 ones). Here the L4 pool is
    # full: the breach must add one L4 replica's capacity (280/s at the ceiling it set),
    # 840/s on T4: 6 replicas, not the 5 that 560/s x headroom needs.
    spec = service(
        [
            variant(
                "gpu",
                accelerators={"nvidia-l4": [(8, 400.0, 20.0)], "nvidia-t4": [(8, 200.0, 20.0)]},
            )
        ],
        scaling={"maxReplicas": 20},
    )
    pools = [
        pool("l4", price=0.8, max_replicas=2),
        pool("t4", accelerator="nvidia-t4", price=0.3),
    ]
    plan = decide(
        decision(
            spec,
            pools,
            demand=560.0,
            p99=80.0,
            current={KEY: running(2)},
            per_deployment={KEY: metrics(560.0, busy=0.7)},
            settings=UNMODELLED,
        )
    )
    assert plan.state.slo_ceiling == {KEY: 280.0, ("gpu", "t4"): 140.0}
    assert replicas(plan) == {KEY: 2, ("gpu", "t4"): 6}
    assert Reason.LATENCY_ABOVE_SLO in reasons(plan)
