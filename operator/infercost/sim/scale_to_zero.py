"""A Workload service's scale to zero (sim/coldstart.py models it; sim/scenario.py reads it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infercost.api.common import Model


class ScaleToZero(Model):
    """Scale to zero with wake-up, as the operator does it for minReplicas 0 (issue 22; its
    activator holds requests at zero): the infercost policy takes the service to zero after idleSeconds without demand, requests that arrive at zero are
    held until a replica is ready, and the held requests are the demand that wakes it."""

    idle_seconds: int = Field(
        default=300, ge=0, le=7 * 86400, description="Demand must be zero this long first."
    )
    wake_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "A request held longer than this fails (the client's requestTimeoutSeconds "
            "binds too); held less, it is answered, and good if it waited no longer than the SLO."
        ),
    )
    wake_on: Literal["Fastest", "Cheapest"] = Field(
        default="Fastest",
        description=(
            "Fastest: wake on the affordable options that start soonest (the cheapest of "
            "them); Cheapest: on the cheapest placement, as a first placement would."
        ),
    )
