"""From a placement to a Plan: allocations, typed actions with reasons, conditions, state.

Migration safety lives here: while the replicas that replace others are not ready to carry
the demand, the old ones stay in the plan (MigrationWaitingForReady).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from infercost.api.service import BudgetAction
from infercost.engine.batching import OFF
from infercost.engine.cost import cost_per_million
from infercost.engine.model import (
    Action,
    ActionKind,
    Allocation,
    BatchConfig,
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
    final, waiting = _keep_until_ready(wanted, current=current, by_key=by_key, demand=demand)
    allocations = _allocations(final, by_key=by_key, current=current, state=state)
    reason = _headline(inp, outcome, final, by_key)
    actions = _scale_actions(
        final=final, wanted=wanted, current=current, outcome=outcome, reason=reason
    )
    actions += _batching_actions(allocations, current=current, state=inp.state, by_key=by_key)
    if not actions:
        message = outcome.note or outcome.target.message
        actions.append(
            Action(kind=ActionKind.HOLD, reason=outcome.note_reason or reason, message=message)
        )
    hourly = sum(allocation.hourly_cost for allocation in allocations)
    scaled = any(a.kind in (ActionKind.SCALE_UP, ActionKind.SCALE_DOWN) for a in actions)
    conditions = (
        _placed(outcome, allocations, reason),
        _metrics(fresh),
        _budget(inp, hourly, reason),
        _ready(final, current, waiting),
    )
    new_state = replace(
        state,
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
    )


def hold_plan(
    *,
    inp: DecisionInput,
    options: list[Option],
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
) -> Plan:
    """Metrics missing or stale: keep what runs; deciding on no data is how outages start."""
    by_key = {option.key: option for option in options}
    final = {key: dep.replicas for key, dep in current.items()}
    allocations = _allocations(final, by_key=by_key, current=current, state=state)
    hourly = sum(allocation.hourly_cost for allocation in allocations)
    message = "metrics missing or older than the stale limit: holding current replicas"
    hold = Action(kind=ActionKind.HOLD, reason=Reason.HELD_METRICS_UNAVAILABLE, message=message)
    placed = ConditionVerdict(
        type="Placed", ok=True, reason=Reason.HELD_METRICS_UNAVAILABLE.value, message=message
    )
    return Plan(
        allocations=tuple(allocations),
        actions=(hold,),
        conditions=(
            placed,
            _metrics(False),
            _budget(inp, hourly, Reason.HELD_METRICS_UNAVAILABLE),
            _ready(final, current, waiting=False),
        ),
        demand_rps=0.0,
        hourly_cost=hourly,
        cost_per_million=None,
        state=replace(state, batching={(a.variant, a.pool): a.batching for a in allocations}),
    )


def _keep_until_ready(
    wanted: Mapping[Key, int],
    *,
    current: Mapping[Key, CurrentDeployment],
    by_key: Mapping[Key, Option],
    demand: float,
) -> tuple[dict[Key, int], bool]:
    """Wanted replicas, plus the old ones that must stay until their replacements are ready."""
    final = dict(wanted)
    starting = any(
        n > (current[k].ready_replicas if k in current else 0) for k, n in wanted.items()
    )
    shrinking = [k for k, dep in current.items() if wanted.get(k, 0) < dep.replicas]
    if not starting or not shrinking:
        return final, False
    ready_capacity = sum(
        min(n, current[k].ready_replicas if k in current else 0) * _throughput(k, by_key)
        for k, n in wanted.items()
    )
    if ready_capacity >= demand and demand > 0:
        return final, False
    for key in shrinking:
        final[key] = current[key].replicas
    return final, True


def _throughput(key: Key, by_key: Mapping[Key, Option]) -> float:
    option = by_key.get(key)
    return option.throughput if option is not None else 0.0


def _allocations(
    final: Mapping[Key, int],
    *,
    by_key: Mapping[Key, Option],
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
) -> list[Allocation]:
    allocations = []
    for key in sorted(final):
        replicas = final[key]
        if replicas <= 0:
            continue
        option = by_key.get(key)
        batching = _batching_for(key, option, current, state)
        allocations.append(
            Allocation(
                variant=key[0],
                pool=key[1],
                replicas=replicas,
                batching=batching,
                hourly_cost=(option.hourly_cost if option else 0.0) * replicas,
                throughput_per_replica=option.throughput if option else 0.0,
            )
        )
    return allocations


def _batching_for(
    key: Key,
    option: Option | None,
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
) -> BatchConfig:
    if option is not None and option.batching is not None:
        return option.batching.config
    running = current.get(key)
    if running is not None and running.batching is not None:
        return running.batching
    return state.batching.get(key, OFF)


def _headline(
    inp: DecisionInput, outcome: Outcome, final: Mapping[Key, int], by_key: Mapping[Key, Option]
) -> Reason:
    """AtMinReplicas when minReplicas, not demand, keeps the replicas that are left."""
    solution = outcome.solution
    total = sum(final.values())
    floor = inp.spec.scaling.min_replicas
    if (
        outcome.reason in (Reason.DEMAND_BELOW_CAPACITY, Reason.STEADY, Reason.INITIAL_PLACEMENT)
        and solution.limit is None
        and total == floor
        and floor > 0
    ):
        smallest = min((_throughput(k, by_key) for k in final), default=0.0)
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
            message = f"{before} -> {after} replicas: {outcome.target.message}"
            actions.append(
                Action(
                    kind=kind,
                    reason=reason,
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


def _placed(outcome: Outcome, allocations: list[Allocation], reason: Reason) -> ConditionVerdict:
    solution = outcome.solution
    ok = solution.met and (bool(allocations) or outcome.target.required <= 0)
    message = outcome.note or outcome.target.message
    if solution.limit is not None:
        message = f"capacity {solution.capacity:.1f}/s of {outcome.target.required:.1f}/s needed"
    return ConditionVerdict(type="Placed", ok=ok, reason=reason.value, message=message)


def _metrics(fresh: bool) -> ConditionVerdict:
    if fresh:
        return ConditionVerdict(
            type="MetricsAvailable", ok=True, reason="MetricsFresh", message="demand observed"
        )
    return ConditionVerdict(
        type="MetricsAvailable",
        ok=False,
        reason=Reason.HELD_METRICS_UNAVAILABLE.value,
        message="no recent demand metrics",
    )


def _budget(inp: DecisionInput, hourly: float, reason: Reason) -> ConditionVerdict:
    budget = inp.spec.budget
    if budget is None:
        return ConditionVerdict(type="WithinBudget", ok=True, reason="NoBudget", message="")
    message = f"${hourly:.2f}/h of ${budget.max_hourly_cost:.2f}/h"
    if hourly > budget.max_hourly_cost + 1e-9:
        over = Reason.OVER_BUDGET if budget.on_exceeded == BudgetAction.WARN else reason
        return ConditionVerdict(type="WithinBudget", ok=False, reason=over.value, message=message)
    if reason == Reason.BUDGET_LIMITED:
        return ConditionVerdict(
            type="WithinBudget", ok=True, reason=reason.value, message=message + ", demand capped"
        )
    return ConditionVerdict(type="WithinBudget", ok=True, reason="WithinBudget", message=message)


def _ready(
    final: Mapping[Key, int], current: Mapping[Key, CurrentDeployment], waiting: bool
) -> ConditionVerdict:
    short = {
        k: n for k, n in final.items() if (current[k].ready_replicas if k in current else 0) < n
    }
    if waiting:
        return ConditionVerdict(
            type="Ready",
            ok=False,
            reason=Reason.MIGRATION_WAITING_FOR_READY.value,
            message="new replicas starting; old replicas still serving",
        )
    if short:
        names = ", ".join(f"{v}/{p}" for v, p in sorted(short))
        return ConditionVerdict(
            type="Ready", ok=False, reason="ReplicasStarting", message=f"waiting for {names}"
        )
    return ConditionVerdict(type="Ready", ok=True, reason="AllReplicasReady", message="")
