"""Naming every binding limit: a plan capped by its budget and by a pool's room says both.

Placement (engine/placement.py) reports the limits that bind on an unmet demand in
`Solution.limits`, the headline reason first; each one, relaxed alone, would give more
capacity. The reason fields keep one value (a Kubernetes condition and an Event have one
reason), so the others are named in the messages of status, Events and `infercost plan`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from infercost.api.service import BudgetAction
from infercost.engine.model import Action, DecisionInput, Reason

if TYPE_CHECKING:  # placement imports this module: types only, no cycle at run time
    from infercost.engine.placement import Problem, Solution


def limits_note(solution: Solution) -> str:
    """'; binding limits: A, B' when more than one limit binds, else ''."""
    if len(solution.limits) < 2:
        return ""
    return "; binding limits: " + ", ".join(reason.value for reason in solution.limits)


def name_limits(actions: list[Action], solution: Solution) -> list[Action]:
    """The actions, those that carry a binding limit as reason naming every binding one."""
    note = limits_note(solution)
    if not note:
        return actions
    bound = set(solution.limits)
    return [
        replace(action, message=action.message + note) if action.reason in bound else action
        for action in actions
    ]


def budget_binds(solution: Solution, reason: Reason) -> bool:
    """Whether a Cap budget stops more capacity, as the headline or beside another limit."""
    return reason == Reason.BUDGET_LIMITED or Reason.BUDGET_LIMITED in solution.limits


def relaxations(problem: Problem) -> dict[Reason, Problem]:
    """The problem without each limit that can be named as binding: a Cap budget, pool room."""
    out: dict[Reason, Problem] = {}
    if problem.budget is not None:
        out[Reason.BUDGET_LIMITED] = replace(problem, budget=None)
    if any(o.free_replicas is not None for o in problem.options):
        roomy = tuple(replace(o, free_replicas=None) for o in problem.options)
        out[Reason.POOL_CAPACITY_LIMITED] = replace(problem, options=roomy)
    return out


def more_capacity(found: float, than: float) -> bool:
    """Whether `found` is more capacity than `than`, beyond solver noise."""
    return found > than * (1 + 1e-6) + 1e-9


def hourly_cap(inp: DecisionInput) -> float | None:
    """The $/h placement may not exceed: the service's Cap budget and its share of a Cap
    BudgetPolicy both hold, so the tighter of the two; None when neither applies."""
    budget = inp.spec.budget
    caps = [budget.max_hourly_cost] if budget and budget.on_exceeded == BudgetAction.CAP else []
    if inp.team_budget is not None:
        caps.append(inp.team_budget.ceiling)
    return min(caps, default=None)


def team_binds(inp: DecisionInput) -> bool:
    """Whether the team share, not the service's own Cap, is the tighter limit."""
    team = inp.team_budget
    if team is None:
        return False
    budget = inp.spec.budget
    own = budget.max_hourly_cost if budget and budget.on_exceeded == BudgetAction.CAP else None
    return own is None or team.ceiling < own
