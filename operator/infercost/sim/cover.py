"""The oracle's per-step problem, solved exactly: the cheapest integer replicas that cover a
demand under the same rules the production planner honours.

For a group of services (one, or several sharing a pool with maxReplicas) and demands D_s:

    minimise   Σ price·n
    subject to Σ_options-of-s capacity·n ≥ D_s              (every service)
               minReplicas ≤ Σ n ≤ maxReplicas              (every service)
               Σ spot n ≤ maxSpotFraction · Σ n             (every service)
               Σ price·n ≤ maxHourlyCost                    (a Cap budget only)
               Σ n on a pool ≤ pool maxReplicas             (all services of the group)

When some demand cannot be covered the group serves as much as the rules allow, then at
the least cost for that (as the planner does under a binding Cap). A minReplicas a Cap
budget cannot pay for is dropped, as the planner drops it.

One service's optimum is a step function of its demand: the optimum x*(D) has capacity
C(x*) >= D and, since a higher demand is never cheaper, stays optimal on all of [D, C(x*)].
`Frontier` walks those pieces once per distinct rule set (HiGHS through scipy), so a week
of steps is a `searchsorted`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from infercost.engine.search import Covering, search

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
TOLERANCE = 1e-9  # relative slack on capacities (solver noise, not a modelling choice)


@dataclass(frozen=True, kw_only=True)
class Rules:
    """One service's options and limits; `pool` indexes the group's `room`."""

    capacity: tuple[float, ...]  # inferences/s per replica at the SLO
    price: tuple[float, ...]  # $/h per replica
    spot: tuple[bool, ...]
    pool: tuple[int, ...]
    min_total: int
    max_total: int
    max_spot_fraction: float = 1.0
    budget: float | None = None  # Cap budgets only


@dataclass(frozen=True)
class Group:
    services: tuple[Rules, ...]
    room: tuple[int | None, ...]  # per pool of the group; None: unbounded


def _program(
    group: Group, demand: Sequence[float], *, serve: bool, floor: float | None = None
) -> IntArray | None:
    """One MILP. serve=False: cheapest cover. serve=True: most demand served (s_s <= D_s,
    s_s <= capacity), or with `floor` the cheapest that serves at least `floor`."""
    sizes = [len(r.capacity) for r in group.services]
    n = sum(sizes)
    extra = len(sizes) if serve else 0
    width = n + extra
    price = np.concatenate([np.asarray(r.price) for r in group.services])
    rows: list[FloatArray] = []
    low: list[float] = []
    high: list[float] = []

    def row(cols: FloatArray, lo: float, hi: float) -> None:
        rows.append(cols)
        low.append(lo)
        high.append(hi)

    first = 0
    for s, (rules, size) in enumerate(zip(group.services, sizes, strict=True)):
        part = slice(first, first + size)
        ones = np.zeros(width)
        ones[part] = 1.0
        row(ones, rules.min_total, rules.max_total)
        cap = np.zeros(width)
        cap[part] = rules.capacity
        if serve:
            cap[n + s] = -1.0
            row(cap, 0.0, np.inf)  # served <= capacity
        elif demand[s] > 0:
            row(cap, demand[s], np.inf)
        if rules.max_spot_fraction < 1 and any(rules.spot):
            f = rules.max_spot_fraction
            spot = np.zeros(width)
            spot[part] = [(1 - f) if sp else -f for sp in rules.spot]
            row(spot, -np.inf, 0.0)
        if rules.budget is not None:
            money = np.zeros(width)
            money[part] = rules.price
            row(money, -np.inf, rules.budget * (1 + TOLERANCE))
        first += size
    pools = np.concatenate([np.asarray(r.pool, dtype=np.int64) for r in group.services])
    for p, room in enumerate(group.room):
        if room is not None and np.any(pools == p):
            cols = np.zeros(width)
            cols[:n][pools == p] = 1.0
            row(cols, -np.inf, float(room))
    objective = np.zeros(width)
    if serve and floor is None:
        objective[n:] = -1.0
    else:
        objective[:n] = price
    if floor is not None:
        total = np.zeros(width)
        total[n:] = 1.0
        row(total, floor, np.inf)
    upper = np.concatenate(
        [np.full(n, np.inf), np.maximum(np.asarray(demand, dtype=np.float64), 0.0)]
        if serve
        else [np.full(n, np.inf)]
    )
    result = milp(
        objective,
        constraints=LinearConstraint(np.vstack(rows), np.array(low), np.array(high)),
        integrality=np.concatenate([np.ones(n), np.zeros(extra)]),
        bounds=Bounds(np.zeros(width), upper),
    )
    if result.status != 0 or result.x is None:
        return None
    counts: IntArray = np.rint(result.x[:n]).astype(np.int64)
    return counts


def payable(group: Group) -> Group:
    """The group with each minReplicas dropped that its rules cannot hold even at no demand."""
    services = []
    for rules in group.services:
        alone = Group((rules,), group.room)
        if rules.min_total > 0 and _program(alone, [0.0], serve=False) is None:
            rules = replace(rules, min_total=0)
        services.append(rules)
    return Group(tuple(services), group.room)


def cheapest(group: Group, demand: Sequence[float]) -> tuple[IntArray, bool]:
    """Counts per option of the group (services in order) and whether all demand is covered."""
    found = _search(group, demand[0]) if len(group.services) == 1 else None
    if found is None:
        found = _program(group, demand, serve=False)
    if found is not None:
        return found, True
    most = _program(group, demand, serve=True)
    if most is None:
        return np.zeros(sum(len(r.capacity) for r in group.services), dtype=np.int64), False
    served = _served(group, most, demand)
    best = _program(group, demand, serve=True, floor=served * (1 - TOLERANCE))
    return (most if best is None else best), False


def _search(group: Group, demand: float) -> IntArray | None:
    """The planner's exact branch and bound (about 10x faster than HiGHS on these sizes);
    None when it is infeasible or gives up, and HiGHS decides."""
    rules = group.services[0]
    room = [group.room[p] for p in sorted(set(rules.pool))]
    where = sorted(set(rules.pool))
    found, complete = search(
        Covering(
            price=rules.price,
            throughput=rules.capacity,
            upper=[
                rules.max_total
                if group.room[p] is None
                else min(rules.max_total, group.room[p] or 0)
                for p in rules.pool
            ],
            held=[0] * len(rules.price),
            group=[where.index(p) for p in rules.pool],
            room=room,
            spot=rules.spot,
            required=demand,
            min_total=rules.min_total,
            max_total=rules.max_total,
            max_spot_fraction=rules.max_spot_fraction,
            budget=rules.budget,
        )
    )
    return np.array(found, dtype=np.int64) if complete and found is not None else None


def _served(group: Group, counts: IntArray, demand: Sequence[float]) -> float:
    return float(sum(min(c, d) for c, d in zip(capacities(group, counts), demand, strict=True)))


def capacities(group: Group, counts: IntArray) -> list[float]:
    out, first = [], 0
    for rules in group.services:
        size = len(rules.capacity)
        out.append(float(np.dot(rules.capacity, counts[first : first + size])))
        first += size
    return out


@dataclass
class Frontier:
    """One service's optimum as a step function of demand, built lazily up to a demand."""

    group: Group  # of one service
    ends: list[float] = field(default_factory=list)  # piece i serves demand <= ends[i]
    counts: list[IntArray] = field(default_factory=list)

    def extend(self, top: float) -> None:
        while not self.ends or (self.ends[-1] < top and np.isfinite(self.ends[-1])):
            demand = 0.0 if not self.ends else self.ends[-1] * (1 + TOLERANCE) + TOLERANCE
            counts, covered = cheapest(self.group, [demand])
            capacity = capacities(self.group, counts)[0]
            self.ends.append(max(capacity, demand) if covered else np.inf)
            self.counts.append(counts)

    def lookup(self, demand: FloatArray) -> IntArray:
        """Counts [option, step] for each step's demand."""
        self.extend(float(demand.max(initial=0.0)))
        piece = np.searchsorted(np.asarray(self.ends), demand, side="left")
        table: IntArray = np.stack(self.counts, axis=1)
        out: IntArray = table[:, np.minimum(piece, len(self.ends) - 1)]
        return out
