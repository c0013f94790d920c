"""The conditions a plan reports (contract types: Placed, MetricsAvailable, WithinBudget, Ready)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from infercost.api.service import BudgetAction
from infercost.engine.limits import limits_note, team_binds
from infercost.engine.model import (
    Allocation,
    ConditionVerdict,
    CurrentDeployment,
    DecisionInput,
    Observation,
    Reason,
)
from infercost.engine.options import Key

if TYPE_CHECKING:
    from infercost.engine.actions import Outcome


def placed_condition(
    outcome: Outcome, allocations: list[Allocation], reason: Reason
) -> ConditionVerdict:
    solution = outcome.solution
    ok = solution.met and (bool(allocations) or outcome.target.required <= 0)
    message = outcome.note or outcome.target.message
    if solution.limit is not None:
        message = f"capacity {solution.capacity:.1f}/s of {outcome.target.required:.1f}/s needed"
        message += limits_note(solution)
    return ConditionVerdict(type="Placed", ok=ok, reason=reason.value, message=message)


def metrics_condition(fresh: bool, observation: Observation | None) -> ConditionVerdict:
    """MetricsAvailable; when False, the metrics source's own reason if it knows one
    (PrometheusUnreachable, MetricsMissing, ...), set here once."""
    if fresh:
        return ConditionVerdict(
            type="MetricsAvailable", ok=True, reason="MetricsFresh", message="demand observed"
        )
    if observation is not None and observation.unavailable_reason is not None:
        return ConditionVerdict(
            type="MetricsAvailable",
            ok=False,
            reason=observation.unavailable_reason,
            message=observation.unavailable_message,
        )
    return ConditionVerdict(
        type="MetricsAvailable",
        ok=False,
        reason=Reason.HELD_METRICS_UNAVAILABLE.value,
        message="no recent demand metrics",
    )


def budget_condition(
    inp: DecisionInput, hourly: float, reason: Reason, *, capped: bool = False
) -> ConditionVerdict:
    """WithinBudget; `capped`: the budget binds beside another limit (engine/limits.py)."""
    if team_binds(inp):
        return _team_condition(inp, hourly, limited=reason == Reason.BUDGET_LIMITED or capped)
    limit = inp.spec.budget
    if limit is None:
        return ConditionVerdict(type="WithinBudget", ok=True, reason="NoBudget", message="")
    message = f"${hourly:.2f}/h of ${limit.max_hourly_cost:.2f}/h"
    if hourly > limit.max_hourly_cost + 1e-9:
        over = Reason.OVER_BUDGET if limit.on_exceeded == BudgetAction.WARN else reason
        return ConditionVerdict(type="WithinBudget", ok=False, reason=over.value, message=message)
    if reason == Reason.BUDGET_LIMITED or capped:
        return ConditionVerdict(
            type="WithinBudget",
            ok=True,
            reason=Reason.BUDGET_LIMITED.value,
            message=message + ", demand capped",
        )
    return ConditionVerdict(type="WithinBudget", ok=True, reason="WithinBudget", message=message)


def _team_condition(inp: DecisionInput, hourly: float, *, limited: bool) -> ConditionVerdict:
    """WithinBudget where a BudgetPolicy's share is the tighter limit: named with the policy."""
    team = inp.team_budget
    assert team is not None  # team_binds said so
    message = (
        f"${hourly:.2f}/h of its ${team.ceiling:.2f}/h share of BudgetPolicy {team.policy} "
        f"(${team.cap:.2f}/h for all the services it selects)"
    )
    if limited or hourly > team.ceiling + 1e-9:
        return ConditionVerdict(
            type="WithinBudget",
            ok=hourly <= team.ceiling + 1e-9,
            reason=Reason.TEAM_BUDGET_LIMITED.value,
            message=message + ", demand capped",
        )
    return ConditionVerdict(type="WithinBudget", ok=True, reason="WithinBudget", message=message)


def ready_condition(
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
