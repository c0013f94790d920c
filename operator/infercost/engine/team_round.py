"""One round of every BudgetPolicy over services the caller is about to plan. Pure.

The caller (`infercost plan`, the simulator, the operator) has each service's DecisionInput
for the round; the split (engine/team_budget.py) asks the planner what each would plan with
the money left, and the round hands back each service's tightest share, to be passed as
`DecisionInput.team_budget` when the service is planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from infercost.api.budget import BudgetPolicy
from infercost.api.service import InferenceService
from infercost.engine.model import DecisionInput, Plan, TeamCeiling
from infercost.engine.planner import decide
from infercost.engine.team_budget import Member, PlanAt, Split, split_policies, tightest


def service_key(service: InferenceService) -> str:
    """namespace/name, as a BudgetPolicy's status lists the services it limits."""
    return f"{service.metadata.namespace or 'default'}/{service.metadata.name}"


def members_of(inputs: Sequence[tuple[InferenceService, DecisionInput]]) -> list[Member]:
    """Each service as the split sees it: its priority, labels and its planner for the round."""
    return [
        Member(
            name=service_key(service),
            priority=service.spec.priority,
            plan_at=_plan_at(inp),
            namespace=service.metadata.namespace or "default",
            labels=service.metadata.labels,
        )
        for service, inp in inputs
    ]


def team_shares(
    budgets: Sequence[BudgetPolicy], inputs: Sequence[tuple[InferenceService, DecisionInput]]
) -> tuple[list[Split], dict[str, TeamCeiling]]:
    """Every policy's split and each service's tightest share (keyed by namespace/name)."""
    if not budgets:
        return [], {}
    splits = split_policies(budgets, members_of(inputs))
    return splits, tightest(splits)


def _plan_at(inp: DecisionInput) -> PlanAt:
    def plan(share: TeamCeiling | None) -> Plan:
        return decide(replace(inp, team_budget=share))

    return plan
