"""Scale to zero in the engine (engine/idle.py): to zero after idleSeconds without demand, at
zero while none comes, and woken on the fastest affordable option when it does."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service

from infercost.engine.model import (
    ActionKind,
    DecisionInput,
    Plan,
    Reason,
    ScaleToZero,
    ServiceState,
    SpikeRecord,
)
from infercost.engine.planner import decide, explain

pytestmark = pytest.mark.unit

IDLE = ScaleToZero(idle_seconds=600)
SLOW_CHEAP = pool("l4-slow", price=0.5, provisioning=300)
FAST_DEAR = pool("l4-fast", price=1.0, provisioning=30)


def zero(inp: DecisionInput, policy: ScaleToZero | None = IDLE) -> DecisionInput:
    return replace(inp, scale_to_zero=policy)


def condition(plan: Plan, kind: str) -> tuple[bool, str]:
    (found,) = [c for c in plan.conditions if c.type == kind]
    return found.ok, found.reason


def run_idle(policy: ScaleToZero | None, *, seconds: float, step: float = 15.0) -> list[Plan]:
    """One replica running, no demand, decisions every `step` for `seconds`, state carried."""
    state, plans = ServiceState(), []
    current = {KEY: running(1)}
    now = NOW
    while now <= NOW + seconds:
        plan = decide(
            zero(decision(service([GPU]), [pool("l4")], demand=0.0, current=current, state=state,
                          now=now), policy)
        )  # fmt: skip
        plans.append(plan)
        state = plan.state
        current = {(a.variant, a.pool): running(a.replicas) for a in plan.allocations}
        now += step
    return plans


def test_without_scale_to_zero_min_replicas_holds_for_ever() -> None:
    plans = run_idle(None, seconds=3600)
    assert all(sum(a.replicas for a in p.allocations) == 1 for p in plans)
    assert all(a.reason != Reason.SCALED_TO_ZERO for p in plans for a in p.actions)


def test_demand_zero_for_idle_seconds_scales_to_zero() -> None:
    plans = run_idle(IDLE, seconds=900)
    replicas = [sum(a.replicas for a in p.allocations) for p in plans]
    first_zero = replicas.index(0)
    # The first zero observation starts the idle time; the last replica goes 600 s later.
    assert first_zero == 600 // 15
    assert all(n == 1 for n in replicas[:first_zero])
    assert all(n == 0 for n in replicas[first_zero:])
    down = plans[first_zero]
    (action,) = down.actions
    assert (action.kind, action.reason) == (ActionKind.SCALE_DOWN, Reason.SCALED_TO_ZERO)
    assert (action.from_replicas, action.to_replicas) == (1, 0)
    assert condition(down, "Placed") == (True, "ScaledToZero")
    assert condition(down, "Ready") == (True, "ScaledToZero")
    assert down.hourly_cost == 0.0
    assert down.state.at_zero
    later = plans[-1]
    assert [a.kind for a in later.actions] == [ActionKind.HOLD]
    assert later.actions[0].reason == Reason.SCALED_TO_ZERO


def test_demand_restarts_the_idle_time() -> None:
    state = ServiceState(idle_since=NOW - 590)
    busy = decide(zero(decision(service([GPU]), [pool("l4")], demand=3.0,
                                current={KEY: running(1)}, state=state)))  # fmt: skip
    assert busy.state.idle_since is None
    again = decide(zero(decision(service([GPU]), [pool("l4")], demand=0.0, now=NOW + 15,
                                 current={KEY: running(1)}, state=busy.state)))  # fmt: skip
    assert again.state.idle_since == NOW + 15
    assert sum(a.replicas for a in again.allocations) == 1


def test_at_zero_without_demand_or_metrics_stays_at_zero() -> None:
    at_zero = ServiceState(at_zero=True)
    quiet = decide(zero(decision(service([GPU]), [pool("l4")], demand=0.0, state=at_zero)))
    assert quiet.allocations == ()
    assert quiet.state.at_zero
    # No metrics at all (what holds requests is down): nothing to wake on, stay at zero.
    blind = decide(zero(decision(service([GPU]), [pool("l4")], state=at_zero)))
    assert blind.allocations == ()
    assert blind.state.at_zero
    assert condition(blind, "MetricsAvailable")[0] is False
    # The same input without scale to zero is a first placement at minReplicas.
    placed = decide(decision(service([GPU]), [pool("l4")], demand=0.0, state=at_zero))
    assert sum(a.replicas for a in placed.allocations) == 1


def test_demand_at_zero_wakes_on_the_option_that_starts_fastest() -> None:
    inp = zero(
        decision(service([GPU]), [SLOW_CHEAP, FAST_DEAR], demand=5.0,
                 state=ServiceState(at_zero=True))
    )  # fmt: skip
    plan = decide(inp)
    assert [(a.pool, a.replicas) for a in plan.allocations] == [("l4-fast", 1)]
    (action,) = [a for a in plan.actions if a.kind == ActionKind.SCALE_UP]
    assert action.reason == Reason.WOKEN_FROM_ZERO
    assert condition(plan, "Placed") == (True, "WokenFromZero")
    assert not plan.state.at_zero
    assert plan.state.idle_since is None
    # `infercost plan` would say why the cheaper pool was not woken on.
    why = {v.option.pool: v.why_not for v in explain(inp)}
    assert why["l4-fast"] is None
    assert "start in 90s" in str(why["l4-slow"])
    # Not at zero, the same demand is placed on the cheap pool.
    normal = decide(decision(service([GPU]), [SLOW_CHEAP, FAST_DEAR], demand=5.0))
    assert [a.pool for a in normal.allocations] == ["l4-slow"]


def test_equal_starts_wake_on_the_cheapest() -> None:
    pools = [pool("l4-a", price=0.9, provisioning=30), pool("l4-b", price=0.6, provisioning=30)]
    plan = decide(zero(decision(service([GPU]), pools, demand=5.0,
                                state=ServiceState(at_zero=True))))  # fmt: skip
    assert [a.pool for a in plan.allocations] == ["l4-b"]


def test_wake_option_must_fit_a_cap_budget() -> None:
    spec = service([GPU], budget={"maxHourlyCost": 0.8})
    plan = decide(zero(decision(spec, [SLOW_CHEAP, FAST_DEAR], demand=5.0,
                                state=ServiceState(at_zero=True))))  # fmt: skip
    assert [a.pool for a in plan.allocations] == ["l4-slow"]


def test_a_recurring_spike_due_wakes_before_the_first_request() -> None:
    # Spikes to 2,000/s every hour, the next due in 100 s: within a start of the wake option.
    spikes = SpikeRecord(
        baseline=0.0, spikes=tuple((NOW - 3500 - k * 3600, 2000.0) for k in (2, 1, 0))
    )
    state = ServiceState(at_zero=True, spikes=spikes)
    plan = decide(zero(decision(service([GPU]), [pool("l4")], demand=0.0, state=state)))
    assert sum(a.replicas for a in plan.allocations) >= 1
    # ... and the last replica stays while one is due, however long demand was zero.
    running_state = ServiceState(idle_since=NOW - 3000, spikes=spikes)
    kept = decide(zero(decision(service([GPU]), [pool("l4")], demand=0.0,
                                current={KEY: running(1)}, state=running_state)))  # fmt: skip
    assert sum(a.replicas for a in kept.allocations) >= 1


def test_waking_on_the_cheapest_is_a_plain_first_placement() -> None:
    cheapest = ScaleToZero(idle_seconds=600, wake_on_fastest=False)
    inp = zero(
        decision(service([GPU]), [SLOW_CHEAP, FAST_DEAR], demand=5.0,
                 state=ServiceState(at_zero=True)),
        cheapest,
    )  # fmt: skip
    plan = decide(inp)
    assert [(a.pool, a.replicas) for a in plan.allocations] == [("l4-slow", 1)]
    assert condition(plan, "Placed") == (True, "WokenFromZero")


def test_an_option_left_out_of_a_wake_for_its_price_says_so() -> None:
    spec = service([GPU], budget={"maxHourlyCost": 0.8})
    pools = [pool("l4-a", price=0.5, provisioning=300), pool("l4-b", price=1.0, provisioning=300)]
    inp = zero(decision(spec, pools, demand=5.0, state=ServiceState(at_zero=True)))
    why = {v.option.pool: v.why_not for v in explain(inp)}
    assert why["l4-a"] is None
    assert "exceeds the Cap budget" in str(why["l4-b"])


def test_demand_at_zero_that_no_affordable_option_can_serve_says_why() -> None:
    """Requests held at zero, and every option's replica is above the Cap budget: Placed and
    Ready False with the reason, so the activator answers them now (503 with it), not at its
    wake timeout. Without demand the same service is quietly at zero."""
    spec = service([GPU], budget={"maxHourlyCost": 0.4})
    held = decide(zero(decision(spec, [SLOW_CHEAP, FAST_DEAR], demand=5.0,
                                state=ServiceState(at_zero=True))))  # fmt: skip
    assert held.allocations == ()
    assert held.state.at_zero
    assert condition(held, "Placed") == (False, "BudgetLimited")
    assert condition(held, "Ready") == (False, "BudgetLimited")
    (placed,) = [c for c in held.conditions if c.type == "Placed"]
    assert "Cap budget of $0.40/h" in placed.message
    assert "cheapest: $0.50/h on l4-slow" in placed.message
    quiet = decide(zero(decision(spec, [SLOW_CHEAP, FAST_DEAR], demand=0.0,
                                 state=ServiceState(at_zero=True))))  # fmt: skip
    assert condition(quiet, "Placed") == (True, "ScaledToZero")


def test_demand_at_zero_with_no_feasible_option_says_why() -> None:
    # No pool carries the variant's accelerator: nothing can serve the held requests.
    plan = decide(zero(decision(service([GPU]), [pool("inf2", accelerator="inferentia2")],
                                demand=5.0, state=ServiceState(at_zero=True))))  # fmt: skip
    assert plan.allocations == ()
    assert condition(plan, "Placed") == (False, "NoFeasibleOption")
    assert condition(plan, "Ready") == (False, "NoFeasibleOption")
    (placed,) = [c for c in plan.conditions if c.type == "Placed"]
    assert "does not run on inferentia2" in placed.message
    # A pool whose maxReplicas other services use up: the same, naming the full pool.
    full = decide(zero(decision(service([GPU]), [pool("l4", max_replicas=2, used_by_others=2)],
                                demand=5.0, state=ServiceState(at_zero=True))))  # fmt: skip
    assert condition(full, "Placed") == (False, "NoFeasibleOption")
    assert "pool is full" in next(c for c in full.conditions if c.type == "Placed").message
