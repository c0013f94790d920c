"""What the operator remembers about one InferenceService between reconciles.

Rebuilt after a restart: demand is recalled from Prometheus and the children are listed from
the API on the first reconcile (service_input.py, service_children.py): nothing here must
survive a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infercost.api.service import InferenceServiceSpec
from infercost.controller import zero
from infercost.controller.children import Child, Synced
from infercost.engine.model import CurrentDeployment, Plan, ServiceState


@dataclass
class Memory:
    """What the operator remembers about one service between reconciles (rebuilt on restart)."""

    state: ServiceState = field(default_factory=ServiceState)
    synced: dict[Child, Synced] = field(default_factory=dict)  # children found to match
    loaded: bool = False  # children listed since this process started
    recalled: bool = False  # demand history read back since this process started
    dry_current: dict[tuple[str, str], CurrentDeployment] = field(default_factory=dict)
    last_events: frozenset[tuple[Any, ...]] = frozenset()
    invalid_generation: int | None = None
    zero: zero.ZeroMemory = field(default_factory=zero.ZeroMemory)  # scale to zero (zero.py)
    # The spec last parsed and the body's `spec` mapping it came from: a watch event brings a
    # new mapping, so parsing runs once per change, not once per reconcile.
    parsed: tuple[object, InferenceServiceSpec] | None = None
    # The status as the API server answered this process's last write of it (the operator
    # is its only writer: newer than a body a lagging watch hands over); service_report.py.
    status: dict[str, Any] | None = None
    # The children last built and what they were built from (service_children.py).
    desired: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None

    def ran_dry(self, plan: Plan) -> dict[tuple[str, str], int]:
        """A dry run: what the plan runs is taken as running and ready; its ready replicas."""
        self.dry_current = {
            (a.variant, a.pool): CurrentDeployment(
                replicas=a.replicas, ready_replicas=a.replicas, batching=a.batching
            )
            for a in plan.allocations
            if a.replicas > 0
        }
        return {k: d.replicas for k, d in self.dry_current.items()}
