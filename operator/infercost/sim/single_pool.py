"""`single-pool`: the infercost planner shown only its best single pool (sim/planned.py)."""

from __future__ import annotations

from infercost.api.pool import AcceleratorPool
from infercost.engine.model import DecisionInput, Observation, PoolView, ServiceState
from infercost.sim.planned import Planned
from infercost.sim.world import World


class SinglePool(Planned):
    """infercost shown only one pool: the one on which the planner itself finds the lowest cost
    per million inferences for the run's mean demand (pools it cannot use alone, e.g. spot
    pools beyond maxSpotFraction, are skipped)."""

    name = "single-pool"

    def pools_for(self, world: World, service: int) -> tuple[AcceleratorPool, ...]:
        spec = world.services[service].spec
        demand = float(world.rates[service].mean())
        best: tuple[float, AcceleratorPool] | None = None
        for pool in world.scenario.pools:
            view = PoolView(
                name=pool.metadata.name,
                labels=pool.metadata.labels,
                spec=pool.spec,
                hourly_per_node=pool.spec.pricing.hourly_per_node or 0.0,
            )
            plan = self.decide(
                DecisionInput(
                    spec=spec,
                    pools=(view,),
                    observation=Observation(time=0.0, demand_rps=demand, p99_latency_ms=None),
                    current={},
                    state=ServiceState(),
                    now=0.0,
                )
            )
            placed = sum(a.replicas for a in plan.allocations)
            price = plan.cost_per_million
            if placed and price is not None and (best is None or price < best[0]):
                best = (price, pool)
        return (best[1],) if best is not None else world.scenario.pools
