"""Scale to zero: the last replica goes after `idle_seconds` without demand; demand at zero
(or a recurring spike due within a start) wakes the service on the fastest option.

Only for a caller that holds requests while no replica runs and reports them as demand
(`DecisionInput.scale_to_zero`; the simulator's Workload `scaleToZero`; the operator for
`minReplicas: 0`, whose activator holds them: controller/zero.py). Without that component a
service at zero would have no endpoint and nothing to wake it.

Demand at zero that no affordable option can serve (none feasible, or none within the Cap
budget and the Spot share) stays at zero with `Placed` and `Ready` False and the reason, so
that the activator answers the held requests with it at once (activator/waker.py).

Why the fastest option and not the cheapest: a request held at zero waits for the first
replica to be ready, so the start-up time is the SLO cost of waking (docs/levers.md).
Once replicas are ready the planner moves to a cheaper placement as it always does.
"""

from __future__ import annotations

from dataclasses import dataclass

from infercost.api.service import BudgetAction
from infercost.engine.conditions import budget_condition, metrics_condition
from infercost.engine.evolve import evolve
from infercost.engine.forecast import expected_spike
from infercost.engine.model import (
    Action,
    ActionKind,
    ConditionVerdict,
    DecisionInput,
    Plan,
    Reason,
    ScaleToZero,
)
from infercost.engine.options import Option
from infercost.engine.prepare import Prepared


@dataclass(frozen=True, kw_only=True)
class IdleVerdict:
    """What scale to zero makes of this decision: a plan at zero, or the planner goes on
    (with the options narrowed to the wake option when waking)."""

    ready: Prepared
    plan: Plan | None = None
    waking: bool = False


def idle_verdict(inp: DecisionInput, ready: Prepared, policy: ScaleToZero) -> IdleVerdict:
    """Track zero demand, then: go to zero, stay there, wake, or leave the decision alone."""
    observed = inp.observation.demand_rps if ready.fresh and inp.observation else None
    state = ready.state
    if observed is not None:  # no metrics: neither demand nor its absence was seen
        since = state.idle_since if state.idle_since is not None else inp.now
        state = evolve(state, idle_since=since if observed <= 0 else None)
    if ready.current:
        state = evolve(state, at_zero=False)  # replicas run (whoever started them)
    ready = evolve(ready, state=state)
    tier = wake_tier(inp, ready.options, fastest=policy.wake_on_fastest)
    spike = _spike_due(inp, ready, tier)
    if not ready.current and state.at_zero:
        demanded = (observed or 0.0) > 0
        if demanded and not tier:
            # Requests are held and no replica can start: say so, so that what holds them
            # answers with the reason now instead of at its wake timeout (activator/waker.py).
            refused = _why_no_wake(inp, ready.options)
            return IdleVerdict(
                ready=ready, plan=_at_zero(inp, ready, scaled_down=False, refused=refused)
            )
        if not tier or not (spike or demanded):
            return IdleVerdict(ready=ready, plan=_at_zero(inp, ready, scaled_down=False))
        soonest = min(option.startup_seconds for option in tier)
        allowed = affordable(inp, ready.options)
        narrowed = [
            option
            if option in tier or not option.feasible
            else _not_waking(option, soonest, allowed=option in allowed)
            for option in ready.options
        ]
        woken = evolve(state, at_zero=False, idle_since=None)
        return IdleVerdict(ready=evolve(ready, options=narrowed, state=woken), waking=True)
    idle_for = inp.now - state.idle_since if state.idle_since is not None else 0.0
    if (
        ready.current
        and observed is not None
        and observed <= 0
        and idle_for >= policy.idle_seconds
        and not spike
    ):
        return IdleVerdict(ready=ready, plan=_at_zero(inp, ready, scaled_down=True))
    return IdleVerdict(ready=ready)


def wake_tier(inp: DecisionInput, options: list[Option], *, fastest: bool = True) -> list[Option]:
    """The affordable options whose replica starts soonest (pool provisioning + model load);
    placement then picks the cheapest of them for the demand. `fastest` False: every
    affordable option (the wake is then a plain first placement)."""
    candidates = affordable(inp, options)
    if not fastest:
        return candidates
    soonest = min((option.startup_seconds for option in candidates), default=None)
    return [option for option in candidates if option.startup_seconds == soonest]


def affordable(inp: DecisionInput, options: list[Option]) -> list[Option]:
    """Feasible options one replica of which fits a Cap budget, Spot pools left out where
    the service allows no Spot share (a wake-up starts one replica at least)."""
    budget = inp.spec.budget
    cap = budget.max_hourly_cost if budget and budget.on_exceeded == BudgetAction.CAP else None
    no_spot = inp.spec.placement.max_spot_fraction <= 0
    return [
        option
        for option in options
        if option.feasible
        and (cap is None or option.hourly_cost <= cap + 1e-9)
        and not (no_spot and option.spot)
    ]


# A first placement's reasons (planner._first_fleet names the band where it chose over it).
_FIRST = (Reason.INITIAL_PLACEMENT, Reason.CHEAPER_OVER_DEMAND_BAND)


def woken(plan: Plan) -> Plan:
    """The first placement after zero, named for what it is (a fleet chosen over the band
    keeps its Placed message, which says why)."""
    actions = tuple(
        evolve(action, reason=Reason.WOKEN_FROM_ZERO) if action.reason in _FIRST else action
        for action in plan.actions
    )
    conditions = tuple(
        evolve(c, reason=Reason.WOKEN_FROM_ZERO.value)
        if c.type == "Placed" and c.reason in _FIRST
        else c
        for c in plan.conditions
    )
    return evolve(plan, actions=actions, conditions=conditions)


def _spike_due(inp: DecisionInput, ready: Prepared, tier: list[Option]) -> bool:
    """A recurring spike is due within a wake-up's start (and one interval)."""
    settings = inp.settings
    if not settings.recurring_spikes or not tier:
        return False
    lead = max(option.startup_seconds for option in tier) + settings.control_interval_seconds
    return expected_spike(ready.state.spikes, now=inp.now, lead=lead, settings=settings) is not None


def _not_waking(option: Option, soonest: float, *, allowed: bool) -> Option:
    if allowed:
        why = (
            f"waking from zero on the options that start in {soonest:.0f}s "
            f"(this one starts in {option.startup_seconds:.0f}s)"
        )
    else:
        why = "waking from zero: one replica here exceeds the Cap budget or the Spot share"
    return evolve(option, why_not=why)


def _why_no_wake(inp: DecisionInput, options: list[Option]) -> tuple[Reason, str]:
    """Why demand at zero starts no replica: no option serves the service at all, or none
    that does fits the Cap budget and the Spot share (`affordable`)."""
    feasible = [option for option in options if option.feasible]
    if not feasible:
        why = "; ".join(f"{o.variant}/{o.pool}: {o.why_not}" for o in options[:3])
        why = why or "no pool matches the service's variants"
        return Reason.NO_FEASIBLE_OPTION, f"demand at zero, but no option can serve it ({why})"
    cheapest = min(feasible, key=lambda option: option.hourly_cost)
    budget = inp.spec.budget
    cap = f"the Cap budget of ${budget.max_hourly_cost:.2f}/h" if budget else "no budget"
    return Reason.BUDGET_LIMITED, (
        f"demand at zero, but one replica of every option exceeds {cap} or runs on Spot "
        f"where maxSpotFraction is 0 (cheapest: ${cheapest.hourly_cost:.2f}/h on "
        f"{cheapest.pool})"
    )


def _at_zero(
    inp: DecisionInput,
    ready: Prepared,
    *,
    scaled_down: bool,
    refused: tuple[Reason, str] | None = None,
) -> Plan:
    """No replica: $0/h; requests that arrive are held and wake the service (`refused`: they
    are held, and cannot: Placed and Ready False with the reason)."""
    state = ready.state
    idle_for = inp.now - state.idle_since if state.idle_since is not None else 0.0
    message = f"no demand for {idle_for:.0f}s: at zero replicas, $0/h; a request wakes the service"
    actions = [
        Action(
            kind=ActionKind.SCALE_DOWN,
            reason=Reason.SCALED_TO_ZERO,
            message=f"{dep.replicas} -> 0 replicas: {message}",
            variant=key[0],
            pool=key[1],
            from_replicas=dep.replicas,
            to_replicas=0,
        )
        for key, dep in sorted(ready.current.items())
    ]
    if not actions:
        actions = [Action(kind=ActionKind.HOLD, reason=Reason.SCALED_TO_ZERO, message=message)]
    reason = Reason.SCALED_TO_ZERO.value
    plan = Plan(
        allocations=(),
        actions=tuple(actions),
        conditions=(
            ConditionVerdict(type="Placed", ok=True, reason=reason, message=message),
            metrics_condition(ready.fresh, inp.observation),
            budget_condition(inp, 0.0, Reason.SCALED_TO_ZERO),
            # Ready: the caller said requests are held and wake the service (scale_to_zero).
            ConditionVerdict(
                type="Ready", ok=True, reason=reason, message="at zero; requests wake a replica"
            ),
        ),
        demand_rps=0.0,
        hourly_cost=0.0,
        cost_per_million=None,
        state=evolve(
            state,
            at_zero=True,
            migrating_from=(),
            scale_down_candidate_since=None,
            last_scale_time=inp.now if scaled_down else state.last_scale_time,
        ),
    )
    if refused is None:
        return plan
    cause, why = refused
    return evolve(
        plan,
        actions=(Action(kind=ActionKind.HOLD, reason=cause, message=why),),
        conditions=(
            ConditionVerdict(type="Placed", ok=False, reason=cause.value, message=why),
            metrics_condition(ready.fresh, inp.observation),
            budget_condition(inp, 0.0, cause),
            ConditionVerdict(type="Ready", ok=False, reason=cause.value, message=why),
        ),
    )
