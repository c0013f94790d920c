"""The oracle: knows every step's demand, gets replicas instantly and balances load ideally.

Per step it buys the cheapest integer mix of replicas over the service's (variant, pool)
options whose capacity at the SLO covers the step's demand, under every rule the planner
honours: the pool selector, maxSpotFraction, min/maxReplicas, pool maxReplicas (shared
with the other services on the pool) and a Cap budget (`sim/cover.py`, solved exactly).
Where the rules cannot cover the demand it serves as much as they allow, as cheaply as
possible. So it is a lower bound on what any policy pays for the same SLO under the same
constraints: it differs from infercost only in foresight, start-up time and routing.

`Oracle(plan_seconds=15)` sizes each 15 s block for its highest demand instead: what deciding
once per control interval costs even with foresight (`make bench-gap`). The bench's oracle
plans every step.

`EqualShareOracle` is the same foresight and instant replicas behind a plain Kubernetes
Service: every ready replica of a service gets an equal share of its requests, so a fleet of
N replicas carries N times its weakest replica's capacity at the SLO. What it pays above the
oracle is what capacity-weighted routing is worth to a policy that knows the future
(`make bench-family` prints both).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from infercost.api.pool import CapacityType
from infercost.api.service import BudgetAction
from infercost.engine.options import selects
from infercost.sim.cover import TOLERANCE, Frontier, Group, Rules, cheapest, payable
from infercost.sim.fleet import Fleet
from infercost.sim.policy import Policy
from infercost.sim.world import Option, World

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
CHUNK_STEPS = 3600  # plan this many steps at a time to bound memory on long runs


def allowed(world: World, option: Option) -> bool:
    """The service's pool selector; spot pools only where some spot share is allowed."""
    placement = world.services[option.service].spec.placement
    if not selects(placement.pool_selector, option.pool.metadata.labels):
        return False
    spot = option.pool.spec.capacity_type == CapacityType.SPOT
    return not (spot and placement.max_spot_fraction == 0)


class Oracle(Policy):
    name = "oracle"
    capacity_routing = True
    reactive = False

    def __init__(self, *, plan_seconds: int = 1) -> None:
        self.plan_seconds = plan_seconds

    def start(self, fleet: Fleet) -> None:
        world: World = fleet.world
        self.world = world
        pools = [p.metadata.name for p in world.scenario.pools]
        room = tuple(p.spec.max_replicas for p in world.scenario.pools)
        self.index: list[IntArray] = []
        rules: list[Rules] = []
        for s in range(len(world.services)):
            options = [o for o in world.options_of(s) if allowed(world, o)]
            for option in options:
                fleet.set_batching(option.index, world.best_batching(option))
            usable = [o for o in options if world.slo_capacity(o, fleet.batching[o.index]) > 0]
            self.index.append(np.array([o.index for o in usable], dtype=np.int64))
            rules.append(_rules(world, s, usable, fleet=fleet, pools=pools))
        self.members = _coupled(world, self.index, room)
        self.groups = [payable(Group(tuple(rules[s] for s in m), room)) for m in self.members]
        self.frontiers: dict[Group, Frontier] = {}
        self.joint: dict[tuple[float, ...], IntArray] = {}
        self.chunk_start = -1
        self.chunk = np.zeros((len(world.options), 0), dtype=np.int64)

    def oracle_ready(self, start: int, steps: int) -> IntArray:
        begin = start - start % CHUNK_STEPS
        if begin != self.chunk_start:
            self._plan(begin)
        offset = start - self.chunk_start
        return self.chunk[:, offset : offset + steps]

    def _frontier(self, rules: Rules, room: tuple[int | None, ...]) -> Frontier:
        key = Group((rules,), room)
        if key not in self.frontiers:
            self.frontiers[key] = Frontier(key)
        return self.frontiers[key]

    def _plan(self, begin: int) -> None:
        end = min(begin + CHUNK_STEPS, self.world.steps)
        self.chunk = np.zeros((len(self.world.options), end - begin), dtype=np.int64)
        block = max(self.plan_seconds // self.world.step, 1)
        for group, members in zip(self.groups, self.members, strict=True):
            demand = block_peaks(self.world.rates[members, begin:end].astype(np.float64), block)
            alone = [
                self._alone(rules, group.room, demand[k]) for k, rules in enumerate(group.services)
            ]
            if len(members) > 1:
                alone = self._share(group, demand, alone)
            for s, counts in zip(members, alone, strict=True):
                self.chunk[self.index[s]] = counts
        self.chunk_start = begin

    def _alone(self, rules: Rules, room: tuple[int | None, ...], demand: FloatArray) -> IntArray:
        """One service's cheapest counts per step, [option, step], planned as if alone."""
        return self._frontier(rules, room).lookup(demand)

    def _share(self, group: Group, demand: FloatArray, alone: list[IntArray]) -> list[IntArray]:
        """Steps where the services' separate optima overfill a shared pool: solve jointly."""
        stacked = np.concatenate(alone, axis=0)  # [option of the group, step]
        pools = np.concatenate([np.asarray(r.pool, dtype=np.int64) for r in group.services])
        over = np.zeros(stacked.shape[1], dtype=bool)
        for p, room in enumerate(group.room):
            if room is not None and np.any(pools == p):
                over |= stacked[pools == p].sum(axis=0) > room
        for step in np.flatnonzero(over):
            key = tuple(float(d) for d in demand[:, step])
            if key not in self.joint:
                self.joint[key] = cheapest(group, key)[0]
            stacked[:, step] = self.joint[key]
        bounds = np.cumsum([0] + [len(r.capacity) for r in group.services])
        return [stacked[bounds[k] : bounds[k + 1]] for k in range(len(group.services))]


class EqualShareOracle(Oracle):
    """The oracle behind a plain Service: equal shares per ready replica, not by capacity.

    A fleet whose weakest replica carries c at the SLO serves N x c. For each level c (the
    capacity of one of the service's options) the cheapest cover counts every option at
    least that strong as c and leaves the weaker ones out; each step takes the cheapest
    level that covers it (where none does, the one that serves most). Services that share
    a bounded pool are planned alone, then, at the steps where together they overfill it,
    jointly by capacity as the oracle does (an approximation: none of the bundled or
    generated scenarios has two services).
    """

    name = "oracle-equal-share"
    capacity_routing = False

    def _alone(self, rules: Rules, room: tuple[int | None, ...], demand: FloatArray) -> IntArray:
        capacity, price = np.asarray(rules.capacity), np.asarray(rules.price)
        best = np.zeros((capacity.size, demand.size), dtype=np.int64)
        best_key = np.full((2, demand.size), np.inf)  # (uncovered demand, $/h), least first
        for level in sorted(set(rules.capacity)):
            keep = [i for i, capacity in enumerate(rules.capacity) if capacity >= level]
            weakest = replace(
                rules,
                capacity=tuple(level for _ in keep),
                price=tuple(rules.price[i] for i in keep),
                spot=tuple(rules.spot[i] for i in keep),
                pool=tuple(rules.pool[i] for i in keep),
            )
            counts = np.zeros_like(best)
            counts[keep] = self._frontier(weakest, room).lookup(demand)
            # A level's fleet may hold only stronger options: its weakest is what it carries.
            weakest_used = np.where(counts > 0, capacity[:, None], np.inf)
            carried = counts.sum(axis=0) * np.where(counts.any(axis=0), weakest_used.min(0), 0.0)
            uncovered = np.maximum(demand - carried, 0.0)
            uncovered[uncovered <= demand * TOLERANCE] = 0.0  # the solver's slack is cover
            # A level without the options minReplicas needs (spot only, say) is no fleet.
            uncovered[counts.sum(axis=0) < rules.min_total] = np.inf
            hourly = price @ counts
            better = (uncovered < best_key[0]) | (
                (uncovered == best_key[0]) & (hourly < best_key[1])
            )
            best[:, better] = counts[:, better]
            best_key[:, better] = uncovered[better], hourly[better]
        return best


def block_peaks(demand: FloatArray, steps: int) -> FloatArray:
    """Each step's demand raised to the highest of its block of `steps` (the last block may
    be shorter); blocks start at the first step, as control intervals do."""
    if steps <= 1:
        return demand
    starts = np.arange(0, demand.shape[1], steps)
    peaks = np.maximum.reduceat(demand, starts, axis=1)
    return np.repeat(peaks, steps, axis=1)[:, : demand.shape[1]]


def _rules(
    world: World, service: int, usable: list[Option], *, fleet: Fleet, pools: list[str]
) -> Rules:
    spec = world.services[service].spec
    budget = spec.budget
    cap = budget.max_hourly_cost if budget and budget.on_exceeded == BudgetAction.CAP else None
    return Rules(
        capacity=tuple(world.slo_capacity(o, fleet.batching[o.index]) for o in usable),
        price=tuple(o.price_per_replica for o in usable),
        spot=tuple(o.pool.spec.capacity_type == CapacityType.SPOT for o in usable),
        pool=tuple(pools.index(o.pool.metadata.name) for o in usable),
        min_total=spec.scaling.min_replicas if usable else 0,
        max_total=spec.scaling.max_replicas,
        max_spot_fraction=spec.placement.max_spot_fraction,
        budget=cap,
    )


def _coupled(world: World, index: list[IntArray], room: tuple[int | None, ...]) -> list[list[int]]:
    """Services joined (transitively) by a pool with maxReplicas that both may use."""
    parent = list(range(len(index)))

    def root(s: int) -> int:
        while parent[s] != s:
            s = parent[s]
        return s

    names = [p.metadata.name for p in world.scenario.pools]
    owner: dict[int, int] = {}
    for s, options in enumerate(index):
        for d in options:
            p = names.index(world.options[int(d)].pool.metadata.name)
            if room[p] is None:
                continue
            if p in owner:
                parent[root(s)] = root(owner[p])
            else:
                owner[p] = s
    groups: dict[int, list[int]] = {}
    for s in range(len(index)):
        groups.setdefault(root(s), []).append(s)
    return list(groups.values())
