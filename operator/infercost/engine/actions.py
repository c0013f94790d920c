"""From a placement to a Plan: allocations, typed actions with reasons, conditions, state.

Migration safety lives here: while the replicas that replace others are not ready to carry
the demand, the old ones stay in the plan (MigrationWaitingForReady).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from infercost.engine.allocations import (
    allocations_for,
    keep_until_ready,
    throughput_of,
)
from infercost.engine.conditions import (
    budget_condition,
    metrics_condition,
    placed_condition,
    ready_condition,
)
from infercost.engine.cost import cost_per_million
from infercost.engine.limits import budget_binds, hourly_cap, name_limits
from infercost.engine.model import (
    Action,
    ActionKind,
    Allocation,
    ConditionVerdict,
    CurrentDeployment,
    DecisionInput,
    Plan,
    Reason,
    ServiceState,
)
from infercost.engine.options import Key, Option
from infercost.engine.placement import Solution
from infercost.engine.scaling import Target


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The placement chosen and why."""

    target: Target
    solution: Solution
    reason: Reason
    moved: bool = False
    note: str | None = None
    note_reason: Reason | None = None
    cap_budget: float | None = None  # a Cap budget binds migrations too


def build_plan(
    *,
    inp: DecisionInput,
    options: list[Option],
    outcome: Outcome,
    state: ServiceState,
    demand: float,
    fresh: bool,
) -> Plan:
    by_key = {option.key: option for option in options}
    current = {key: dep for key, dep in inp.current.items() if dep.replicas > 0}
    wanted = dict(outcome.solution.replicas)
    final, waiting = keep_until_ready(
        wanted,
        current=current,
        by_key=by_key,
        # Old replicas go only once the ready new ones carry what the plan must carry
        # (during a scale-down delay that is the capacity now running, not demand).
        demand=max(demand, outcome.target.required),
        max_total=inp.spec.scaling.max_replicas,
        max_hourly=outcome.cap_budget,
    )
    allocations = allocations_for(final, by_key=by_key, current=current, state=state)
    reason = _headline(inp, outcome, final, by_key)
    actions = _scale_actions(
        final=final,
        wanted=wanted,
        current=current,
        outcome=outcome,
        reason=reason,
        finishing=set(inp.state.migrating_from),
    )
    if not actions:  # no replica changes: say why the replicas stay as they are
        message = outcome.note or outcome.target.message
        # A binding limit (budget, pool room, maxReplicas) matters more than why we did not move.
        why = reason if outcome.solution.limit else (outcome.note_reason or reason)
        actions.append(Action(kind=ActionKind.HOLD, reason=why, message=message))
    actions = name_limits(actions, outcome.solution)
    actions += _batching_actions(allocations, current=current, state=inp.state, by_key=by_key)
    hourly = sum(allocation.hourly_cost for allocation in allocations)
    scaled = any(a.kind in (ActionKind.SCALE_UP, ActionKind.SCALE_DOWN) for a in actions)
    conditions = (
        placed_condition(outcome, allocations, reason),
        metrics_condition(fresh, inp.observation),
        budget_condition(inp, hourly, reason, capped=budget_binds(outcome.solution, reason)),
        ready_condition(final, current, waiting),
    )
    new_state = replace(
        state,
        migrating_from=tuple(sorted(k for k, n in final.items() if n > wanted.get(k, 0))),
        batching={(a.variant, a.pool): a.batching for a in allocations},
        last_scale_time=inp.now if scaled else state.last_scale_time,
    )
    return Plan(
        allocations=tuple(allocations),
        actions=tuple(actions),
        conditions=conditions,
        demand_rps=demand,
        hourly_cost=hourly,
        cost_per_million=cost_per_million(hourly, demand),
        state=new_state,
        limits=outcome.solution.limits,
    )


def hold_plan(
    *,
    inp: DecisionInput,
    options: list[Option],
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
) -> Plan:
    """Metrics missing or stale: keep what runs; deciding on no data is how outages start.

    One exception: a Cap budget is a promise about money, not about demand. When prices rose
    while metrics are out, the replicas the budget no longer buys go (BudgetLimited).
    """
    by_key = {option.key: option for option in options}
    final = {key: dep.replicas for key, dep in current.items()}
    trims = _trim_to_budget(final, inp=inp, by_key=by_key)
    allocations = allocations_for(final, by_key=by_key, current=current, state=state)
    hourly = sum(allocation.hourly_cost for allocation in allocations)
    message = "metrics missing or older than the stale limit: holding current replicas"
    hold = Action(kind=ActionKind.HOLD, reason=Reason.HELD_METRICS_UNAVAILABLE, message=message)
    placed = ConditionVerdict(
        type="Placed", ok=True, reason=Reason.HELD_METRICS_UNAVAILABLE.value, message=message
    )
    return Plan(
        allocations=tuple(allocations),
        actions=(hold, *trims),
        conditions=(
            placed,
            metrics_condition(False, inp.observation),
            budget_condition(inp, hourly, Reason.HELD_METRICS_UNAVAILABLE),
            ready_condition(final, current, waiting=False),
        ),
        demand_rps=0.0,
        hourly_cost=hourly,
        cost_per_million=None,
        state=replace(state, batching={(a.variant, a.pool): a.batching for a in allocations}),
    )


def _trim_to_budget(
    final: dict[Key, int], *, inp: DecisionInput, by_key: Mapping[Key, Option]
) -> list[Action]:
    """Remove the dearest replicas per unit of throughput until a Cap budget holds."""
    cap = hourly_cap(inp)
    if cap is None:
        return []
    price = {key: by_key[key].hourly_cost if key in by_key else 0.0 for key in final}
    before = dict(final)
    while sum(price[k] * n for k, n in final.items()) > cap + 1e-9:
        key = max(
            (k for k, n in final.items() if n > 0 and price[k] > 0),
            key=lambda k: (price[k] / max(throughput_of(k, by_key), 1e-9), k),
        )
        final[key] -= 1
    return [
        Action(
            kind=ActionKind.SCALE_DOWN,
            reason=Reason.BUDGET_LIMITED,
            message=f"{before[k]} -> {n} replicas: prices rose above the ${cap:.2f}/h Cap",
            variant=k[0],
            pool=k[1],
            from_replicas=before[k],
            to_replicas=n,
        )
        for k, n in sorted(final.items())
        if n < before[k]
    ]


def _headline(
    inp: DecisionInput, outcome: Outcome, final: Mapping[Key, int], by_key: Mapping[Key, Option]
) -> Reason:
    """AtMinReplicas when minReplicas, not demand, keeps the replicas that are left."""
    solution = outcome.solution
    total = sum(final.values())
    floor = inp.spec.scaling.min_replicas
    if (
        outcome.reason in (Reason.DEMAND_BELOW_CAPACITY, Reason.STEADY)
        and solution.limit is None
        and total == floor
        and floor > 0
    ):
        smallest = min((throughput_of(k, by_key) for k in final), default=0.0)
        if solution.capacity - smallest >= outcome.target.required:
            return Reason.AT_MIN_REPLICAS
    return outcome.reason


def _scale_actions(
    *,
    final: Mapping[Key, int],
    wanted: Mapping[Key, int],
    current: Mapping[Key, CurrentDeployment],
    outcome: Outcome,
    reason: Reason,
    finishing: set[Key],
) -> list[Action]:
    actions: list[Action] = []
    keys = sorted(set(final) | set(current))
    if outcome.moved:
        new = sorted((k for k in wanted if k not in current), key=lambda k: (-wanted[k], k))
        if new:
            actions.append(
                Action(
                    kind=ActionKind.MIGRATE,
                    reason=reason,
                    message=f"moving to {new[0][0]} on {new[0][1]}: {outcome.target.message}",
                    variant=new[0][0],
                    pool=new[0][1],
                    to_replicas=wanted[new[0]],
                )
            )
    for key in keys:
        before = current[key].replicas if key in current else 0
        after = final.get(key, 0)
        if after > wanted.get(key, 0):
            actions.append(
                Action(
                    kind=ActionKind.HOLD,
                    reason=Reason.MIGRATION_WAITING_FOR_READY,
                    message="old replicas kept until the new ones are ready for the demand",
                    variant=key[0],
                    pool=key[1],
                    from_replicas=before,
                    to_replicas=after,
                )
            )
        elif after != before:
            kind = ActionKind.SCALE_UP if after > before else ActionKind.SCALE_DOWN
            # Old replicas of a finished migration go because their replacements are ready.
            finished = key in finishing and after < before
            why = Reason.MOVED_TO_CHEAPER_POOL if finished else reason
            message = (
                "replacement replicas are ready"
                if finished
                else f"{before} -> {after} replicas: {outcome.target.message}"
            )
            actions.append(
                Action(
                    kind=kind,
                    reason=why,
                    message=message,
                    variant=key[0],
                    pool=key[1],
                    from_replicas=before,
                    to_replicas=after,
                )
            )
    return actions


def _batching_actions(
    allocations: list[Allocation],
    *,
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
    by_key: Mapping[Key, Option],
) -> list[Action]:
    """SetBatching for running deployments whose batching changes (new ones start with it)."""
    actions = []
    for allocation in allocations:
        key = (allocation.variant, allocation.pool)
        running = current.get(key)
        if running is None:
            continue
        before = running.batching or state.batching.get(key)
        if before == allocation.batching:
            continue
        option = by_key.get(key)
        choice = option.batching if option is not None else None
        actions.append(
            Action(
                kind=ActionKind.SET_BATCHING,
                reason=choice.reason if choice is not None else Reason.BATCHING_TUNED,
                message=choice.message if choice is not None else "batching restored",
                variant=allocation.variant,
                pool=allocation.pool,
            )
        )
    return actions
