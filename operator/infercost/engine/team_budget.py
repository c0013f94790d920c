"""Splitting a BudgetPolicy's Cap across the services it selects, one round at a time. Pure.

The planner already keeps one service under a $/h ceiling (placement's budget row, the
trim of a held fleet, migrations bounded by it). A team Cap reuses exactly that: the split
gives each selected service its own ceiling for this round (`TeamCeiling`), the ceilings
never sum above the Cap, and the service's own `spec.budget` still holds beside it.

How the Cap is shared, in one pass over the services in order: highest `spec.priority`
first, then the most SLO-meeting throughput per dollar (capacity of the plan the service
wants, per $/h), then the name. Each service is asked what it would plan with the money
left (`plan_at`, the planner itself); it gets what that plan costs, and what it does not
use goes on down the order. A service the money left does not cover is planned with what
there is (the planner serves what it buys: BudgetLimited), and every service after it
gets only what the ones before could not use. So a higher-priority service is cut only
when no money that a lower one holds could have bought it more: the lower ones hold at
most what it was offered and left. Money nobody uses in a round is given to the first
service in the order (room to grow before the next round), so the shares sum to the Cap.
Like a service's own Cap, a team Cap wins over minReplicas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from infercost.api.budget import BudgetPolicy
from infercost.api.service import BudgetAction
from infercost.engine.model import Plan, TeamCeiling

# Rounding slack when comparing dollars per hour (the placement's own budget slack).
_EPS = 1e-9

PlanAt = Callable[[TeamCeiling | None], Plan]


@dataclass(frozen=True, kw_only=True)
class Member:
    """One selected service: its name (namespace/name), priority and how it would plan."""

    name: str
    priority: int
    plan_at: PlanAt  # the planner for this round with a team share, or None for no share
    namespace: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Share:
    """One service's part of the split."""

    name: str
    priority: int
    wanted: float  # $/h the service would be planned at without the team limit
    planned: float  # $/h it is planned at within its share
    ceiling: TeamCeiling | None  # None under Warn: nothing is capped
    limited: bool  # the share buys less than the service wants


@dataclass(frozen=True, kw_only=True)
class Split:
    """A BudgetPolicy's round: every selected service's share, in the order served."""

    policy: str
    cap: float
    action: BudgetAction
    shares: tuple[Share, ...]

    @property
    def wanted(self) -> float:
        return sum(share.wanted for share in self.shares)

    @property
    def spend(self) -> float:
        return sum(share.planned for share in self.shares)

    @property
    def exceeded(self) -> bool:
        """The services want more than the Cap (under Warn: they are planned at it too)."""
        return self.wanted > self.cap + _EPS

    @property
    def limited(self) -> tuple[str, ...]:
        return tuple(share.name for share in self.shares if share.limited)


def split_budget(
    *, policy: str, cap: float, action: BudgetAction, members: Sequence[Member]
) -> Split:
    """Each member's share of `cap` this round (module docstring: the order and the rule)."""
    wanted = {member.name: member.plan_at(None) for member in members}
    order = sorted(members, key=lambda m: _rank(m, wanted[m.name]))
    if action == BudgetAction.WARN:
        warned = tuple(
            Share(
                name=m.name,
                priority=m.priority,
                wanted=wanted[m.name].hourly_cost,
                planned=wanted[m.name].hourly_cost,
                ceiling=None,
                limited=False,
            )
            for m in order
        )
        return Split(policy=policy, cap=cap, action=action, shares=warned)
    left = cap
    given: list[tuple[Member, float, float, bool]] = []  # member, ceiling, planned, limited
    for member in order:
        want = wanted[member.name].hourly_cost
        if want <= left + _EPS:
            given.append((member, want, want, False))
            left = max(left - want, 0.0)
            continue
        plan = member.plan_at(TeamCeiling(policy=policy, ceiling=left, cap=cap))
        planned = min(plan.hourly_cost, left)
        given.append((member, planned, planned, True))
        left = max(left - planned, 0.0)
    shares: list[Share] = []
    for index, (member, ceiling, planned, limited) in enumerate(given):
        room = ceiling + (left if index == 0 else 0.0)
        shares.append(
            Share(
                name=member.name,
                priority=member.priority,
                wanted=wanted[member.name].hourly_cost,
                planned=planned,
                ceiling=TeamCeiling(policy=policy, ceiling=room, cap=cap),
                limited=limited,
            )
        )
    return Split(policy=policy, cap=cap, action=action, shares=tuple(shares))


def split_policies(policies: Sequence[BudgetPolicy], members: Sequence[Member]) -> list[Split]:
    """Every policy's split over the members its selector picks, in the policies' name order."""
    splits = []
    for policy in sorted(policies, key=lambda p: p.metadata.name):
        selector = policy.spec.selector
        chosen = [
            m for m in members if selector.selects(namespace=m.namespace, labels=dict(m.labels))
        ]
        splits.append(
            split_budget(
                policy=policy.metadata.name,
                cap=policy.spec.max_hourly_cost,
                action=policy.spec.on_exceeded,
                members=chosen,
            )
        )
    return splits


def tightest(splits: Sequence[Split]) -> dict[str, TeamCeiling]:
    """Service name -> the smallest of its shares over every Cap policy that selects it:
    each policy's sum stays under its Cap when every service keeps under its smallest share."""
    out: dict[str, TeamCeiling] = {}
    for split in splits:
        for share in split.shares:
            ceiling = share.ceiling
            if ceiling is None:
                continue
            held = out.get(share.name)
            if held is None or ceiling.ceiling < held.ceiling:
                out[share.name] = ceiling
    return out


def throughput_per_dollar(plan: Plan) -> float:
    """SLO-meeting capacity of a plan per $/h (infinite for a free plan with capacity)."""
    capacity = sum(a.replicas * a.throughput_per_replica for a in plan.allocations)
    if plan.hourly_cost <= _EPS:
        return float("inf") if capacity > 0 else 0.0
    return capacity / plan.hourly_cost


def _rank(member: Member, wanted: Plan) -> tuple[int, float, str]:
    return (-member.priority, -throughput_per_dollar(wanted), member.name)
