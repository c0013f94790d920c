"""When a move to another placement must wait: migration safety decided before acting.

A move replaces ready replicas with ones that still have to start. It is only safe from a
settled fleet (nothing starting, SLO met, no scale-down pending) and only when the old
replicas can stay until the new ones are ready (a Cap budget or maxReplicas may forbid it).
"""

from __future__ import annotations

from collections.abc import Mapping

from infercost.api.service import BudgetAction
from infercost.engine.allocations import ready_capacity_kept
from infercost.engine.learning import starting
from infercost.engine.model import CurrentDeployment, DecisionInput, Reason
from infercost.engine.options import Key, Option
from infercost.engine.scaling import Target


def move_waits_for(
    inp: DecisionInput, current: Mapping[Key, CurrentDeployment], target: Target
) -> str | None:
    """Why a move for savings must wait, or None: a move replaces ready replicas with ones
    still to start, which is only safe from a settled state (nothing starting, SLO met,
    demand not about to shrink the fleet)."""
    if starting(current):
        return "replicas are still starting"
    if inp.state.slo_breach_since is not None or target.reason == Reason.LATENCY_ABOVE_SLO:
        return "p99 is above the SLO"
    if target.reason == Reason.SCALE_DOWN_DELAYED:
        return "demand is low; scale-down decides first"
    return None


def move_unsafe(
    *,
    inp: DecisionInput,
    options: list[Option],
    current: Mapping[Key, CurrentDeployment],
    target: Target,
    wanted: Mapping[Key, int],
) -> str | None:
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
        return "the old replicas could not stay (budget or maxReplicas) until new ones are ready"
    return None
