"""What `infercost plan` prints so a choice can be checked from its output alone.

The routing model: one Kubernetes Service spreads requests in equal shares per replica, so
a mix of N replicas serves N x its slowest replica's rate (engine/routing.py), not the sum
of their rates; the options table's "replicas needed" is each option alone. Next to the
chosen mix the plan shows both figures, and every limit that binds (engine/limits.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercost.engine.model import Allocation, Plan

EQUAL_SHARE = "equal-share"  # one Kubernetes Service over every Deployment (the default)
CAPACITY_WEIGHTED = "capacity-weighted"


@dataclass(frozen=True, kw_only=True)
class MixCapacity:
    """The chosen mix under the routing model the engine planned for, and the other one."""

    model: str
    replicas: int
    effective_per_replica: float  # the rate each replica serves before its share queues
    capacity: float  # what the engine counted
    capacity_weighted: float  # the sum of the replicas' rates (a weighted gateway)
    needed: float  # demand x (1 + headroom)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "replicas": self.replicas,
            "effective_throughput_per_replica": round(self.effective_per_replica, 6),
            "capacity": round(self.capacity, 6),
            "capacity_weighted_capacity": round(self.capacity_weighted, 6),
            "needed": round(self.needed, 6),
        }


def mix_capacity(
    allocations: tuple[Allocation, ...], *, equal_share: bool, needed: float
) -> MixCapacity:
    used = [a for a in allocations if a.replicas > 0]
    replicas = sum(a.replicas for a in used)
    summed = sum(a.replicas * a.throughput_per_replica for a in used)
    slowest = min((a.throughput_per_replica for a in used), default=0.0)
    effective = slowest if equal_share else (summed / replicas if replicas else 0.0)
    return MixCapacity(
        model=EQUAL_SHARE if equal_share else CAPACITY_WEIGHTED,
        replicas=replicas,
        effective_per_replica=effective,
        capacity=replicas * slowest if equal_share else summed,
        capacity_weighted=summed,
        needed=needed,
    )


def routing_note(equal_share: bool) -> str:
    """One line under the options table."""
    if equal_share:
        return (
            "routing: equal share per replica (one Service): a mix of N replicas serves "
            "N x its slowest replica's thr/replica; 'replicas needed' is each option alone"
        )
    return (
        "routing: capacity-weighted (spec.routing: an HTTPRoute weighted by capacity, once the "
        "Gateway accepts it): a mix serves the sum of its replicas' thr/replica"
    )


def mix_lines(mix: MixCapacity) -> list[str]:
    """The chosen mix's capacity under both routing models, and what is needed."""
    if mix.replicas == 0:
        return [f"capacity: no replicas; {mix.needed:,.1f}/s needed"]
    lines = [
        f"capacity ({mix.model}): {mix.replicas} replicas x {mix.effective_per_replica:,.1f}/s "
        f"= {mix.capacity:,.1f}/s of {mix.needed:,.1f}/s needed (demand x (1 + headroom))"
    ]
    if mix.model == EQUAL_SHARE and mix.capacity_weighted > mix.capacity * (1 + 1e-9):
        lines.append(
            f"capacity-weighted routing would give {mix.capacity_weighted:,.1f}/s from the "
            "same replicas (each replica's own rate summed)"
        )
    return lines


def binding_limits(result: Plan) -> list[str]:
    """Every limit that stops more capacity, the headline reason first (engine/limits.py)."""
    return [reason.value for reason in result.limits]
