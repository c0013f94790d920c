"""Each reason names its real cause, set once where the decision is made (issue 19, point 7).

A cheaper placement that waits used to say MoveCooldown ("the last move was recent") for
every cause; each cause now has its own reason, in the Hold action (status lastDecision
and the Event) and in its message. The stalled-pool reason is decided with the placement
instead of overwriting it, and MetricsAvailable=False carries the metrics source's reason
from the engine (it was replaced afterwards in the status wording).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service, variant

from infercost.engine.model import (
    ActionKind,
    CurrentDeployment,
    DecisionInput,
    Observation,
    Reason,
    ServiceState,
)
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit
POOLS = [pool("l4"), pool("l4-spot", price=0.3, spot=True)]  # spot is cheaper: a move tempts
T4_AND_L4 = variant(
    "gpu",
    accelerators={"nvidia-t4": [(8, 200.0, 20.0)], "nvidia-l4": [(8, 400.0, 20.0)]},
)


def held(inp: DecisionInput) -> tuple[Reason, str]:
    """The one Hold of a plan that keeps the fleet where it is: (reason, message)."""
    plan = decide(inp)
    assert {(a.variant, a.pool) for a in plan.allocations} == set(inp.current)
    (hold,) = plan.actions
    assert hold.kind == ActionKind.HOLD
    return hold.reason, hold.message


def test_a_recent_move_is_the_cooldown() -> None:
    inp = decision(
        service([GPU]),
        POOLS,
        demand=500.0,
        current={KEY: running(2)},
        state=ServiceState(last_move_time=NOW - 10),
    )
    reason, message = held(inp)
    assert reason == Reason.MOVE_COOLDOWN
    assert message.startswith("moved 10s ago")


def test_replicas_still_starting_hold_the_move_with_their_own_reason() -> None:
    inp = decision(service([GPU]), POOLS, demand=500.0, current={KEY: running(2, ready=1)})
    assert held(inp) == (
        Reason.HELD_REPLICAS_STARTING,
        "$1.40/h saving waits: replicas are still starting",
    )


def test_p99_above_the_slo_holds_the_move_as_latency_above_slo() -> None:
    inp = decision(
        service([GPU]),
        POOLS,
        demand=500.0,
        current={KEY: running(2)},
        state=ServiceState(slo_breach_since=NOW - 30),
    )
    assert held(inp) == (Reason.LATENCY_ABOVE_SLO, "$1.40/h saving waits: p99 is above the SLO")


@pytest.mark.parametrize(
    "bounds",
    [{"budget": {"maxHourlyCost": 2.1}}, {"scaling": {"maxReplicas": 2}}],
    ids=["cap-budget", "max-replicas"],
)
def test_a_move_that_could_not_keep_the_old_replicas_is_unsafe(bounds: dict[str, object]) -> None:
    inp = decision(service([GPU], **bounds), POOLS, demand=500.0, current={KEY: running(2)})
    reason, message = held(inp)
    assert reason == Reason.MOVE_UNSAFE
    assert "could not stay" in message


def test_a_move_that_loses_at_the_held_peak_says_so() -> None:
    trough = ((NOW - 600.0, 150.0), (NOW - 300.0, 150.0))
    inp = decision(
        service([T4_AND_L4], scaling={"maxReplicas": 20}),
        [pool("t4", accelerator="nvidia-t4", price=0.45), pool("l4", price=0.8)],
        demand=150.0,
        p99=10.0,
        current={("gpu", "l4"): running(1)},
        state=ServiceState(demand_history=trough, demand_peak=(NOW - 5400.0, 2000.0)),
    )
    reason, message = held(inp)
    assert reason == Reason.MOVE_LOSES_AT_PEAK
    assert "peak demand held" in message


def test_a_stalled_pool_names_the_plan_and_its_actions() -> None:
    stalled = CurrentDeployment(replicas=4, ready_replicas=1, unschedulable_replicas=3)
    inp = decision(
        service([GPU]),
        [pool("l4"), pool("l4-b", price=1.5)],
        demand=500.0,
        current={KEY: stalled},
    )
    plan = decide(inp)
    placed = next(c for c in plan.conditions if c.type == "Placed")
    assert placed.reason == Reason.POOL_CAPACITY_EXHAUSTED.value
    assert placed.message.startswith("PoolCapacityExhausted: gpu on l4 has 3 of 4 replicas lost")
    moves = [a for a in plan.actions if a.kind in (ActionKind.MIGRATE, ActionKind.SCALE_UP)]
    assert moves
    assert {a.reason for a in moves} == {Reason.POOL_CAPACITY_EXHAUSTED}
    assert plan.state.last_move_time is None  # not a move for savings: no cooldown starts


def test_metrics_available_carries_the_metrics_source_reason() -> None:
    inp = decision(service([GPU]), [pool("l4")], current={KEY: running(2)})
    down = Observation(
        time=NOW,
        demand_rps=None,
        p99_latency_ms=None,
        unavailable_reason="PrometheusUnreachable",
        unavailable_message="connection refused",
    )
    for observation, want in (
        (None, (Reason.HELD_METRICS_UNAVAILABLE.value, "no recent demand metrics")),
        (down, ("PrometheusUnreachable", "connection refused")),
    ):
        plan = decide(replace(inp, observation=observation))
        metrics = next(c for c in plan.conditions if c.type == "MetricsAvailable")
        assert not metrics.ok
        assert (metrics.reason, metrics.message) == want
        assert {a.reason for a in plan.actions} == {Reason.HELD_METRICS_UNAVAILABLE}
