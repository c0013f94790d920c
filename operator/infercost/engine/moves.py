"""When a move to another placement must wait: migration safety decided before acting.

A move replaces ready replicas with ones that still have to start. It is only safe from a
settled fleet (nothing starting, SLO met, no scale-down pending) and only when the old
replicas can stay until the new ones are ready (a Cap budget or maxReplicas may forbid it).
"""

from __future__ import annotations

from collections.abc import Mapping

from infercost.api.service import BudgetAction
from infercost.engine.allocations import ready_capacity_kept
from infercost.engine.evolve import evolve
from infercost.engine.forecast import window_max
from infercost.engine.learning import starting
from infercost.engine.model import CurrentDeployment, DecisionInput, Reason
from infercost.engine.options import Key, Option
from infercost.engine.placement import Problem, Solution
from infercost.engine.routing import solve_routed
from infercost.engine.scaling import Target

Wait = tuple[Reason, str]  # why a move waits: the reason code that names it, and in words


def move_waits_for(
    inp: DecisionInput, current: Mapping[Key, CurrentDeployment], target: Target
) -> Wait | None:
    """Why a move for savings must wait, or None: a move replaces ready replicas with ones
    still to start, which is only safe from a settled state (nothing starting, SLO met,
    demand not about to shrink the fleet)."""
    if starting(current):
        return Reason.HELD_REPLICAS_STARTING, "replicas are still starting"
    if inp.state.slo_breach_since is not None or target.reason == Reason.LATENCY_ABOVE_SLO:
        return Reason.LATENCY_ABOVE_SLO, "p99 is above the SLO"
    if target.reason == Reason.SCALE_DOWN_DELAYED:
        return Reason.SCALE_DOWN_DELAYED, "demand is low; scale-down decides first"
    return None


def move_unsafe(
    *,
    inp: DecisionInput,
    options: list[Option],
    current: Mapping[Key, CurrentDeployment],
    target: Target,
    wanted: Mapping[Key, int],
) -> Wait | None:
    """Why the move would drop ready capacity below what it carries now, or None."""
    spec = inp.spec
    budget = spec.budget
    cap = budget.max_hourly_cost if budget and budget.on_exceeded == BudgetAction.CAP else None
    now, kept = ready_capacity_kept(
        wanted,
        current=current,
        by_key={option.key: option for option in options},
        demand=target.required,
        max_total=spec.scaling.max_replicas,
        max_hourly=cap,
    )
    carried = target.required / (1.0 + spec.scaling.headroom)  # the demand, without headroom
    if kept < min(now, carried) * (1 - 1e-9):
        return (
            Reason.MOVE_UNSAFE,
            "the old replicas could not stay (budget or maxReplicas) until new ones are ready",
        )
    return None


def starts(wanted: Mapping[Key, int], held: Mapping[Key, int]) -> int:
    """Replicas a placement must start from what runs."""
    return sum(max(0, n - held.get(key, 0)) for key, n in wanted.items())


def continue_migration(
    inp: DecisionInput, problem: Problem, current: Mapping[Key, CurrentDeployment]
) -> tuple[Problem, Solution] | None:
    """The placement without the pools being left, while a migration is under way and its
    destination still serves; None otherwise.

    Turning back to the pools being left (a little cheaper at this moment's demand) throws
    the starting replicas away, and demand swings the choice back and forth.
    """
    leaving = set(inp.state.migrating_from)
    if not leaving or not set(current) - leaving:
        return None
    onward = evolve(problem, options=tuple(o for o in problem.options if o.key not in leaving))
    going_on = solve_routed(onward, owner=inp.spec, equal_share=inp.settings.equal_share_routing)
    return (onward, going_on) if going_on.met else None


def cheaper_only_below_peak(
    inp: DecisionInput, problem: Problem, moved_to: set[Key]
) -> Wait | None:
    """Why a move for savings must wait: at the peak demand of the last move cooldown (or
    the peak held for `move_peak_window_seconds`) the pools it moves to would not be
    chosen; None when they would.

    A move cannot be undone within the cooldown, so it must suit the demand that period
    has seen, not just this moment's trough (smaller replicas that win at the trough lose
    their saving, and more, on the next surge, each a cold start).
    """
    settings, headroom = inp.settings, 1.0 + inp.spec.scaling.headroom
    history = inp.state.demand_history
    held = inp.state.demand_peak
    recent = window_max(history, now=inp.now, window=settings.move_cooldown_seconds)
    if held is not None and inp.now - held[0] <= settings.move_peak_window_seconds:
        recent = max(recent, held[1])
    peak = recent * headroom
    if peak <= problem.required:
        return None
    at_peak = solve_routed(
        evolve(problem, required=peak), owner=inp.spec, equal_share=settings.equal_share_routing
    )
    if moved_to <= set(at_peak.replicas):
        return None
    return (
        Reason.MOVE_LOSES_AT_PEAK,
        f"the pools it moves to lose at the peak demand held ({peak:.0f}/s with headroom)",
    )


def saving_over_band(
    inp: DecisionInput, problem: Problem, *, best: Solution, stay: Solution
) -> float:
    """The hourly saving of moving, averaged over this interval's demand and demand one
    headroom higher (the band the fleet is sized to carry before it scales again).

    At one demand the move may win by a whole replica's rounding (two large replicas
    against three small ones) and lose more than it saved once demand grows by the
    headroom; the move then sits out its cooldown on the dearer pools. The mean weighs
    both: a large saving with a small risk still moves, a rounding gain does not.
    """
    saving = stay.hourly_cost - best.hourly_cost
    fleets = band_fleets(inp, problem, best=best, stay=stay)
    if fleets is None:
        return saving  # no band, or one side cannot carry the higher demand: this interval decides
    moved, stayed = fleets
    return (saving + stayed.hourly_cost - moved.hourly_cost) / 2.0


def band_fleets(
    inp: DecisionInput, problem: Problem, *, best: Solution, stay: Solution
) -> tuple[Solution, Solution] | None:
    """The cheapest fleets for demand one headroom higher on `best`'s pools and on `stay`'s;
    None where there is no band (no headroom) or one side cannot carry that demand."""
    higher = problem.required * (1.0 + inp.spec.scaling.headroom)
    if higher <= problem.required:
        return None
    equal_share = inp.settings.equal_share_routing
    wider = evolve(problem, required=higher)
    moved = solve_routed(
        evolve(wider, options=tuple(o for o in problem.options if o.key in best.replicas)),
        owner=inp.spec,
        equal_share=equal_share,
    )
    stayed = solve_routed(
        evolve(wider, options=tuple(o for o in problem.options if o.key in stay.replicas)),
        owner=inp.spec,
        equal_share=equal_share,
    )
    return (moved, stayed) if moved.met and stayed.met else None


def band_note(
    inp: DecisionInput, problem: Problem, *, chosen: Solution, cheapest: Solution, saving: float
) -> str:
    """Why a first placement is not the cheapest fleet for this demand, with the figures to
    check it: both fleets and their $/h here and one headroom higher, and the mean saving."""
    higher = problem.required * (1.0 + inp.spec.scaling.headroom)
    there = band_fleets(inp, problem, best=chosen, stay=cheapest)
    costs = (
        f"on the same pools one headroom higher ({higher:.1f}/s) "
        f"${there[0].hourly_cost:.4f}/h against ${there[1].hourly_cost:.4f}/h"
        if there is not None
        else f"one headroom higher ({higher:.1f}/s) the cheapest's pools cannot carry it"
    )
    return (
        f"{fleet_text(chosen)} at ${chosen.hourly_cost:.4f}/h, not the cheapest for "
        f"{problem.required:.1f}/s needed ({fleet_text(cheapest)} at "
        f"${cheapest.hourly_cost:.4f}/h): {costs}, ${saving:.4f}/h less on the mean of the "
        "two demands"
    )


def fleet_text(solution: Solution) -> str:
    """'2 x gpu/l4 + 1 x gpu/a10g': the replicas of a fleet, largest first."""
    used = sorted((-n, key) for key, n in solution.replicas.items() if n > 0)
    return " + ".join(f"{-n} x {variant}/{pool}" for n, (variant, pool) in used)


def stall_cause(inp: DecisionInput, current: Mapping[Key, CurrentDeployment]) -> Wait | None:
    """Replicas a pool could not schedule, or (Spot) replicas on nodes being reclaimed: the
    reason that names the plan whatever else was weighed, as they are placed elsewhere."""
    short = sorted(key for key, dep in current.items() if dep.lost_replicas > 0)
    if not short:
        return None
    spot = {pool.name for pool in inp.pools if pool.spec.capacity_type.value == "Spot"}
    key = short[0]
    dep = current[key]
    reclaimed = dep.disrupted_replicas > 0 and key[1] in spot
    reason = Reason.SPOT_RECLAIMED if reclaimed else Reason.POOL_CAPACITY_EXHAUSTED
    what = (
        f"{dep.disrupted_replicas} on nodes being reclaimed"
        if dep.disrupted_replicas
        else f"{dep.unschedulable_replicas} unschedulable (no node fits)"
    )
    note = (
        f"{reason.value}: {key[0]} on {key[1]} has {dep.lost_replicas} of {dep.replicas} "
        f"replicas lost ({what}); placing them elsewhere"
    )
    return reason, note
