"""The oracle: knows every step's demand, gets replicas instantly and balances load ideally.

Per step it buys the cheapest mix of replicas over all (variant, pool) options whose
capacity at the SLO covers the step's demand: a lower bound on what any policy pays for
the same SLO. The mix is one "main" option filled to capacity plus one option for the
remainder, which is the exact optimum for up to two options and within one replica of it
for more.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from infercost.api.pool import CapacityType
from infercost.engine.options import selects
from infercost.sim.fleet import Fleet
from infercost.sim.policy import Policy
from infercost.sim.world import Option, World

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
CHUNK_STEPS = 3600  # plan this many steps at a time to bound memory on long runs


def cheapest_cover(
    demand: FloatArray, *, capacity: FloatArray, price: FloatArray, minimum: int
) -> IntArray:
    """Replicas per option ([option, step]) covering demand at the least price."""
    count = len(capacity)
    best_cost = np.full(demand.shape, np.inf)
    best = np.zeros((count, len(demand)), dtype=np.int64)
    for main in range(count):
        for rest in range(count):
            for back_off in (0, 1):
                n_main = np.maximum(np.floor(demand / capacity[main]) - back_off, 0)
                remainder = np.maximum(demand - n_main * capacity[main], 0)
                n_rest = np.ceil(remainder / capacity[rest] - 1e-9)
                total = n_main + n_rest
                # minReplicas: top up with the remainder option.
                n_rest = n_rest + np.maximum(minimum - total, 0)
                cost = n_main * price[main] + n_rest * price[rest]
                better = cost < best_cost - 1e-12
                best_cost = np.where(better, cost, best_cost)
                best[:, better] = 0
                best[main, better] += n_main[better].astype(np.int64)
                best[rest, better] += n_rest[better].astype(np.int64)
    return best


def allowed(world: World, option: Option) -> bool:
    """The service's own placement rules: its pool selector, and no spot when it forbids spot.

    A spot share between 0 and 1 is relaxed (spot allowed): the bound stays a lower bound.
    """
    placement = world.services[option.service].spec.placement
    if not selects(placement.pool_selector, option.pool.metadata.labels):
        return False
    spot = option.pool.spec.capacity_type == CapacityType.SPOT
    return not (spot and placement.max_spot_fraction == 0)


class Oracle(Policy):
    name = "oracle"
    capacity_routing = True
    reactive = False

    def start(self, fleet: Fleet) -> None:
        world: World = fleet.world
        self.world = world
        self.groups = []
        for s in range(len(world.services)):
            options = [o for o in world.options_of(s) if allowed(world, o)]
            for option in options:
                fleet.set_batching(option.index, world.best_batching(option))
            capacity = np.array([world.slo_capacity(o, fleet.batching[o.index]) for o in options])
            usable = capacity > 0
            self.groups.append(
                (
                    np.array([o.index for o in options])[usable],
                    capacity[usable],
                    np.array([o.price_per_replica for o in options])[usable],
                    world.services[s].spec.scaling.min_replicas,
                )
            )
        self.chunk_start = -1
        self.chunk = np.zeros((len(world.options), 0), dtype=np.int64)

    def oracle_ready(self, start: int, steps: int) -> IntArray:
        begin = start - start % CHUNK_STEPS
        if begin != self.chunk_start:
            self._plan(begin)
        offset = start - self.chunk_start
        return self.chunk[:, offset : offset + steps]

    def _plan(self, begin: int) -> None:
        end = min(begin + CHUNK_STEPS, self.world.steps)
        self.chunk = np.zeros((len(self.world.options), end - begin), dtype=np.int64)
        for s, (index, capacity, price, minimum) in enumerate(self.groups):
            if not len(index):
                continue
            demand = self.world.rates[s, begin:end].astype(np.float64)
            self.chunk[index] = cheapest_cover(
                demand, capacity=capacity, price=price, minimum=minimum
            )
        self.chunk_start = begin
