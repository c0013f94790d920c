"""What a scenario adds for team budgets: BudgetPolicy documents and prices that change.

A BudgetPolicy in a scenario file is applied by the infercost policy every control
interval through the same split the operator and `infercost plan` use
(engine/team_round.py). `priceChanges` on the Workload set a pool's node price from a
given time on (an OpenCost update, a Spot price move); every policy pays the new price from
the first control interval at or after that time, and the infercost policy plans with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from infercost.api.common import Model
from infercost.api.pool import AcceleratorPool

if TYPE_CHECKING:  # scenario.py imports this module; world and fleet import scenario
    from infercost.sim.fleet import Fleet
    from infercost.sim.world import World

FloatArray = NDArray[np.float64]


class PriceChange(Model):
    """From `atSeconds` on, one node of `pool` costs `hourlyPerNode`."""

    at_seconds: int = Field(ge=0, description="Simulated second the new price holds from.")
    pool: str = Field(min_length=1, description="metadata.name of an AcceleratorPool.")
    hourly_per_node: float = Field(
        ge=0, le=10000, allow_inf_nan=False, description="The new price of one node per hour."
    )


def price_change_errors(changes: Iterable[PriceChange], pools: set[str]) -> list[str]:
    """Each change naming a pool the scenario does not have, said with the fix."""
    return [
        f"Workload spec.priceChanges[{index}].pool {change.pool!r} is not a pool of the "
        f"scenario ({', '.join(sorted(pools))})"
        for index, change in enumerate(changes)
        if change.pool not in pools
    ]


def prices_at(
    changes: Iterable[PriceChange], *, now: float, base: dict[str, float]
) -> dict[str, float]:
    """Each pool's node price at `now`: the base price, or the latest change at or before."""
    prices = dict(base)
    for change in sorted(changes, key=lambda c: c.at_seconds):
        if change.at_seconds <= now:
            prices[change.pool] = change.hourly_per_node
    return prices


def base_prices(pools: Iterable[AcceleratorPool]) -> dict[str, float]:
    """Each pool's node price as its spec gives it (before any change)."""
    return {pool.metadata.name: pool.spec.pricing.hourly_per_node or 0.0 for pool in pools}


def replica_prices(world: World, node_prices: dict[str, float]) -> FloatArray:
    """$/h of one replica of each option of the world at these node prices."""
    return np.array(
        [
            node_prices[o.pool.metadata.name] * o.accelerators / o.pool.spec.accelerator.per_node
            for o in world.options
        ]
    )


def reprice(fleet: Fleet, *, now: float) -> None:
    """Set the fleet's replica prices to those in effect at `now` (no-op without changes)."""
    world = fleet.world
    changes = world.scenario.workload.spec.price_changes
    if changes:
        node = prices_at(changes, now=now, base=base_prices(world.scenario.pools))
        fleet.price[:] = replica_prices(world, node)
