"""`decide`: one observation in, one Plan out. Pure and deterministic.

The order is the reasoning: learn from the observation, price every option, work out the
capacity to provide (scaling), place it at the lowest cost (placement), prefer staying put
unless the saving is worth the move (hysteresis), keep old replicas while new ones start
(migration), then describe the changes as typed actions with reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from infercost.engine.actions import Outcome, build_plan, hold_plan
from infercost.engine.caching import counting_cached
from infercost.engine.evolve import evolve
from infercost.engine.forecast import expected_spike, window_max
from infercost.engine.horizon import horizon_margin
from infercost.engine.idle import idle_verdict, woken
from infercost.engine.learning import saturated, starting, waiting_for_capacity
from infercost.engine.limits import hourly_cap
from infercost.engine.model import CurrentDeployment, DecisionInput, Plan, Reason, ServiceState
from infercost.engine.moves import (
    Wait,
    band_note,
    cheaper_only_below_peak,
    continue_migration,
    move_unsafe,
    move_waits_for,
    saving_over_band,
    stall_cause,
    starts,
)
from infercost.engine.options import Key, Option
from infercost.engine.placement import Problem, Solution, single_option
from infercost.engine.prepare import Prepared, prepare
from infercost.engine.routing import fleet_capacity, solve_routed
from infercost.engine.scaling import Current, Target, scaling_target
from infercost.engine.signals import overload_lingers, recently_ready, tail_rejections

# $/h far below any price's resolution: sums of prices that differ by less are equal.
_COST_NOISE = 1e-9


@dataclass(frozen=True, kw_only=True)
class OptionVerdict:
    """One option as `infercost plan` shows it: what it alone would need, or why not."""

    option: Option
    replicas_needed: int
    why_not: str | None


def decide(inp: DecisionInput) -> Plan:
    """The plan for one service at `inp.now`."""
    ready = prepare(inp)
    waking = False
    if inp.scale_to_zero is not None:  # engine/idle.py: to zero, at zero, or waking
        idle = idle_verdict(inp, ready, inp.scale_to_zero)
        if idle.plan is not None:
            return idle.plan
        ready, waking = idle.ready, idle.waking
    if not ready.fresh and ready.current:
        bounds = inp.spec.scaling
        total = sum(dep.replicas for dep in ready.current.values())
        if bounds.min_replicas <= total <= bounds.max_replicas:
            return hold_plan(
                inp=inp, options=ready.options, current=ready.current, state=ready.state
            )
        target = _held_within_bounds(inp, ready)
    else:
        target = _target(
            inp=inp,
            options=ready.options,
            current=ready.current,
            state=ready.state,
            demand=ready.demand,
        )
    outcome = _place(inp=inp, options=ready.options, current=ready.current, target=target)
    voluntary = outcome.moved and outcome.reason == Reason.MOVED_TO_CHEAPER_POOL
    state = replace(
        ready.state,
        scale_down_candidate_since=target.scale_down_since,
        last_move_time=inp.now if voluntary else ready.state.last_move_time,
    )
    plan = build_plan(
        inp=inp,
        options=ready.options,
        outcome=outcome,
        state=state,
        demand=ready.demand,
        fresh=ready.fresh,
    )
    plan = counting_cached(plan, inp.observation, inp.settings, late_share=inp.spec.slo.late_share)
    return woken(plan) if waking else plan


def explain(inp: DecisionInput) -> list[OptionVerdict]:
    """Every (variant, pool) with the replicas it would need alone this interval, or why not."""
    ready = prepare(inp)
    if inp.scale_to_zero is not None:  # waking narrows the options (engine/idle.py)
        ready = idle_verdict(inp, ready, inp.scale_to_zero).ready
    target = _target(
        inp=inp,
        options=ready.options,
        current=ready.current,
        state=ready.state,
        demand=ready.demand,
    )
    problem = _problem(inp=inp, options=ready.options, current=ready.current, target=target)
    verdicts = []
    for option in ready.options:
        needed, why_not = single_option(problem, option)
        verdicts.append(OptionVerdict(option=option, replicas_needed=needed, why_not=why_not))
    return verdicts


def _held_within_bounds(inp: DecisionInput, ready: Prepared) -> Target:
    """No metrics, and what runs is outside min/max (the spec changed): keep the capacity
    that runs, within the bounds."""
    by_key = {option.key: option for option in ready.options}
    capacity = sum(
        by_key[key].throughput * dep.replicas for key, dep in ready.current.items() if key in by_key
    )
    return Target(
        required=capacity,
        reason=Reason.HELD_METRICS_UNAVAILABLE,
        message="metrics missing: capacity kept, replicas brought within min/max",
        scale_down_since=ready.state.scale_down_candidate_since,
    )


def _target(
    *,
    inp: DecisionInput,
    options: list[Option],
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
    demand: float,
) -> Target:
    by_key = {option.key: option for option in options}
    # Replicas kept only while their replacements start are not capacity to plan with;
    # but when a changed plan marked every deployment as leaving, what runs is all there is
    # (planning from nothing would be a first placement that forgets the scale-down delay).
    staying = {k: d for k, d in current.items() if k not in state.migrating_from}
    current = staying or current
    # Replicas on options that no longer serve (pool deselected, SLO unmet) add no capacity.
    capacities = [by_key[k].throughput for k in current if k in by_key and by_key[k].throughput > 0]
    running = Current(
        total=sum(dep.replicas for dep in current.values()),
        capacity=fleet_capacity(
            {k: _serving(d) for k, d in current.items()},
            {k: by_key[k].throughput for k in current if k in by_key},
            equal_share=inp.settings.equal_share_routing,
        ),
        smallest_replica=min(capacities, default=0.0),
    )
    feasible = [option for option in options if option.feasible]
    # Forecast over the slowest start among the options: capacity must be there in time.
    # Forecast over the start of the pools that would grow: those running, or, for a first
    # placement, the slowest feasible option (the trend to a far pool's start over-reaches).
    running_options = [option for option in feasible if option.key in current]
    horizon = max((option.startup_seconds for option in running_options or feasible), default=0.0)
    settings = inp.settings
    # The demand to come and the margin above it, read over the start-up horizon.
    margin = horizon_margin(inp, history=state.demand_history, demand=demand, startup=horizon)
    forecast = demand * margin.trend if margin.trend is not None else None
    expected = (
        expected_spike(
            state.spikes,
            now=inp.now,
            lead=horizon + settings.control_interval_seconds,
            settings=settings,
        )
        if settings.recurring_spikes
        else None
    )
    observation = inp.observation
    p99 = None
    rejected = 0.0
    fleet_changed = recently_ready(
        state.ready_since, now=inp.now, window=settings.metrics_window_seconds
    )
    # p99 from a window that holds an overload which has ended is no reason to grow now.
    lingering = overload_lingers(
        state.saturated_at, now=inp.now, window=settings.summary_lag_seconds
    )
    if (
        observation is not None
        and demand > 0
        and not starting(current)
        and not fleet_changed
        and not lingering
    ):
        p99 = observation.p99_latency_ms
        since = state.tail_rejecting_since
        # For a whole metrics window: a burst's rejections linger in the window that long
        # after its queue has emptied (while it lasts its queue is full: not a tail, and
        # demand counts its rejections already).
        if since is not None and inp.now - since >= settings.metrics_window_seconds:
            rejected = tail_rejections(
                observation, current, settings, late_share=inp.spec.slo.late_share
            ).share
    return scaling_target(
        spec=inp.spec,
        demand=demand,
        forecast=forecast,
        expected=expected,
        window_demand=window_max(
            state.demand_history, now=inp.now, window=inp.spec.scaling.scale_down_delay_seconds
        ),
        history_seconds=inp.now - state.demand_history[0][0] if state.demand_history else 0.0,
        p99_ms=p99,
        rejected_share=rejected,
        saturated=saturated(observation, current, settings, slo_ms=inp.spec.slo.latency_ms),
        waiting=waiting_for_capacity(
            observation, current, settings, slo_ms=inp.spec.slo.latency_ms
        ),
        current=running,
        margin=margin.factor,
        since=state.scale_down_candidate_since,
        # A p99 that only holds an overload which has ended is not a breach to hold for: after
        # a burst Triton's summaries keep its queueing a minute, capacity that is idle now.
        breaching=state.slo_breach_since is not None and not lingering,
        now=inp.now,
        settings=settings,
    )


def _problem(
    *,
    inp: DecisionInput,
    options: list[Option],
    current: Mapping[Key, CurrentDeployment],
    target: Target,
) -> Problem:
    spec = inp.spec
    return Problem(
        options=tuple(option for option in options if option.feasible),
        required=target.required,
        min_total=spec.scaling.min_replicas,
        max_total=spec.scaling.max_replicas,
        max_spot_fraction=spec.placement.max_spot_fraction,
        budget=hourly_cap(inp),
        current={key: dep.replicas for key, dep in current.items()},
    )


def _place(
    *,
    inp: DecisionInput,
    options: list[Option],
    current: Mapping[Key, CurrentDeployment],
    target: Target,
) -> Outcome:
    spec = inp.spec
    problem = _problem(inp=inp, options=options, current=current, target=target)
    held = problem.current or {}
    equal_share = inp.settings.equal_share_routing
    best = solve_routed(problem, owner=inp.spec, equal_share=equal_share)
    going_on = continue_migration(inp, problem, current)
    if going_on is not None:
        problem, best = going_on
    band: Wait | None = None
    if not held and best.met:
        best, band = _first_fleet(inp, problem, best)
    moved_to = set(best.replicas) - set(held)
    stall = stall_cause(inp, current)
    if not held or not moved_to:
        # A first fleet that is not the cheapest for this demand is named for why (the band).
        said = None if band is None else (band[0], f"{target.message}: {band[1]}")
        return _outcome(
            problem,
            target,
            best,
            reason=band[0] if band else _reason(target, best),
            stall=stall,
            current=current,
            note=said,
        )
    stay = solve_routed(
        replace(problem, options=tuple(o for o in problem.options if o.key in held)),
        owner=inp.spec,
        equal_share=equal_share,
    )
    stay_serves = stay.met or (not best.met and stay.capacity >= best.capacity)
    last = inp.state.last_move_time
    cooling = last is not None and inp.now - last < inp.settings.move_cooldown_seconds
    # A scale-up starts replicas whether it moves or not: starting no more of them where
    # the fleet ends up cheaper is no riskier than growing the pools that run now (the old
    # replicas stay until the new ones are ready), so it need not wait for a settled fleet.
    # It must still save over the band: on a ramp a move that wins by one replica's
    # rounding loses at the next interval's demand and sits out the cooldown there.
    growing = 0 < starts(best.replicas, held) <= starts(stay.replicas, held)
    if stay_serves and cooling and not growing:
        # Within the cooldown nothing else can let a move for savings through: say so
        # without weighing it further (most intervals of a fleet that moved lately).
        note = (
            f"moved {inp.now - (last or 0.0):.0f}s ago; "
            f"${stay.hourly_cost - best.hourly_cost:.2f}/h saving waits"
        )
        return _staying(problem, target, stay, note=note, why=Reason.MOVE_COOLDOWN, stall=stall)
    saving = saving_over_band(inp, problem, best=best, stay=stay)
    if stay_serves and saving < spec.placement.min_savings_to_move * stay.hourly_cost:
        note = (
            f"moving would save ${saving:.2f}/h (mean at this demand and one headroom "
            f"higher), below {spec.placement.min_savings_to_move:.0%} of "
            f"${stay.hourly_cost:.2f}/h"
        )
        return _staying(
            problem, target, stay, note=note, why=Reason.SAVINGS_BELOW_THRESHOLD, stall=stall
        )
    # A move waits while the fleet is unsettled (when staying serves) or when it would take
    # ready capacity away (whenever staying keeps something running).
    unsettled = move_waits_for(inp, current, target) if stay_serves and not growing else None
    if unsettled is None and stay_serves:
        unsettled = cheaper_only_below_peak(inp, problem, moved_to)
    if unsettled is None and stay.replicas:
        unsettled = move_unsafe(
            inp=inp, options=options, current=current, target=target, wanted=best.replicas
        )
    if unsettled is not None:
        why, what = unsettled  # each cause named where it was found (moves.py)
        note = f"${saving:.2f}/h saving waits: {what}"
        return _staying(problem, target, stay, note=note, why=why, stall=stall)
    reason = Reason.MOVED_TO_CHEAPER_POOL if stay_serves else _reason(target, best)
    return _outcome(problem, target, best, reason=reason, moved=True, stall=stall, current=current)


def _first_fleet(
    inp: DecisionInput, problem: Problem, best: Solution
) -> tuple[Solution, Wait | None]:
    """A first placement's pools, chosen over the band as a move is: where the pools that
    win one headroom higher differ, the ones whose fleet costs less on the mean of the two
    demands (a first fleet won by one replica's rounding would be kept by the move test).
    When that fleet costs more at this demand than `best`, the cheapest here, the reason and
    note say why, with the figures to check it (CheaperOverDemandBand)."""
    higher = problem.required * (1.0 + inp.spec.scaling.headroom)
    equal_share = inp.settings.equal_share_routing
    wide = solve_routed(
        evolve(problem, required=higher),
        owner=inp.spec,
        equal_share=equal_share,
    )
    if not wide.met or set(wide.replicas) == set(best.replicas):
        return best, None
    alt = solve_routed(
        evolve(problem, options=tuple(o for o in problem.options if o.key in wide.replicas)),
        owner=inp.spec,
        equal_share=equal_share,
    )
    if not alt.met:
        return best, None
    saving = saving_over_band(inp, problem, best=alt, stay=best)
    # A saving within float noise of zero is none (a tie over the band keeps the cheapest
    # fleet here); NaN included.
    if not saving > _COST_NOISE:
        return best, None
    if alt.hourly_cost <= best.hourly_cost + _COST_NOISE:
        return alt, None  # as cheap at this demand: the usual reason says it all
    note = band_note(inp, problem, chosen=alt, cheapest=best, saving=saving)
    return alt, (Reason.CHEAPER_OVER_DEMAND_BAND, note)


def _staying(
    problem: Problem,
    target: Target,
    stay: Solution,
    *,
    note: str,
    why: Reason,
    stall: Wait | None,
) -> Outcome:
    """The outcome that keeps the pools running now, with why a move waits."""
    return _outcome(
        problem,
        target,
        stay,
        reason=_reason(target, stay),
        note=(why, note),
        stall=stall,
        current=problem.current or {},
    )


def _outcome(
    problem: Problem,
    target: Target,
    solution: Solution,
    *,
    reason: Reason,
    stall: Wait | None,
    current: Mapping[Key, object],
    moved: bool = False,
    note: Wait | None = None,
) -> Outcome:
    """The Outcome with its reason set once. A stalled pool (moves.stall_cause) names it
    whatever else was weighed: replicas had to be placed away from that pool."""
    if stall is not None:
        reason, note = stall[0], stall
        moved = moved or bool(set(solution.replicas) - set(current))
    return Outcome(
        cap_budget=problem.budget,
        target=target,
        solution=solution,
        reason=reason,
        moved=moved,
        note=None if note is None else note[1],
        note_reason=None if note is None else note[0],
    )


def _serving(dep: CurrentDeployment) -> int:
    """Replicas to count as capacity: unschedulable ones will not come, and those on nodes
    being reclaimed will go."""
    return dep.replicas - dep.lost_replicas


def _reason(target: Target, solution: Solution) -> Reason:
    """The reason that explains the plan: the binding limit if any, else the scaling reason."""
    held = target.reason == Reason.HELD_METRICS_UNAVAILABLE
    # Holding on no data, only a Cap budget may take replicas away: say so when it does.
    if solution.limit is None or (held and solution.limit != Reason.BUDGET_LIMITED):
        return target.reason
    return solution.limit
