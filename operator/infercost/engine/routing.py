"""How requests reach the replicas, and so how much a mixed fleet serves.

The operator puts one Kubernetes Service in front of every Deployment of an
InferenceService, and a Service spreads requests in equal shares per ready replica whatever
each replica can serve. A fleet of N replicas then serves N x its weakest replica's capacity
before that replica queues: one small replica beside a large one wastes most of the large
one. Placement solves with summed capacity (a relaxation) and, when the cheapest fleet it
finds mixes replica sizes, once more per possible weakest replica. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from infercost.engine.limits import relaxations
from infercost.engine.options import Key, Option
from infercost.engine.placement import Problem, Solution, solve


def fleet_capacity(
    replicas: Mapping[Key, int], throughput: Mapping[Key, float], *, equal_share: bool
) -> float:
    """Inferences/s a fleet serves: summed, or N x the weakest replica under equal shares."""
    used = {key: n for key, n in replicas.items() if n > 0 and key in throughput}
    if not used:
        return 0.0
    if not equal_share:
        return sum(throughput[key] * n for key, n in used.items())
    return sum(used.values()) * min(throughput[key] for key in used)


def solve_routed(problem: Problem, *, equal_share: bool, name_limits: bool = True) -> Solution:
    """The cheapest fleet for `problem` with the capacity the routing really gives it.

    Unmet, its `limits` are those whose removal alone gives more capacity under this routing
    (`name_limits` False: the headline limit alone, for the relaxed runs that find them)."""
    relaxed = solve(problem, name_limits=name_limits and not equal_share)
    if not equal_share:
        return relaxed
    throughput = {option.key: option.throughput for option in problem.options}
    served = fleet_capacity(relaxed.replicas, throughput, equal_share=True)
    if relaxed.met and served >= problem.required * (1 - 1e-9):
        return replace(relaxed, capacity=served)  # feasible, so optimal
    best: Solution | None = None
    for floor in sorted({t for t in throughput.values() if t > 0}):
        options = tuple(_capped(o, floor) for o in problem.options if o.throughput >= floor)
        found = solve(replace(problem, options=options), name_limits=False)
        if best is None or _better(found, best):
            best = found
    if best is None:
        return replace(relaxed, capacity=served)
    if best.met or best.limit is None:
        return best
    named = [best.limit]
    for reason, wider in relaxations(problem).items() if name_limits else ():
        if reason != best.limit and _serves_more(wider, best.capacity):
            named.append(reason)
    return replace(best, limits=tuple(named))


def _serves_more(problem: Problem, capacity: float) -> bool:
    """Whether some fleet of `problem` serves more than `capacity` under equal shares.

    Per possible weakest replica (floor), a cheap bound on the replicas first: most floors
    cannot beat `capacity` whatever the fleet, and need no solve."""
    target = capacity * (1 + 1e-6) + 1e-9
    for floor in sorted({o.throughput for o in problem.options if o.throughput > 0}):
        options = [o for o in problem.options if o.throughput >= floor]
        if floor * _most_replicas(problem, options) < target:
            continue
        capped = tuple(_capped(o, floor) for o in options)
        if solve(replace(problem, options=capped, required=target, min_total=0),
                 name_limits=False).met:  # fmt: skip
            return True
    return False


def _most_replicas(problem: Problem, options: list[Option]) -> int:
    """An upper bound on the replicas `options` may hold: maxReplicas, pool room, budget."""
    most = problem.max_total
    rooms = {o.pool: o.free_replicas for o in options}
    if all(room is not None for room in rooms.values()):
        most = min(most, sum(room or 0 for room in rooms.values()))
    cheapest = min((o.hourly_cost for o in options), default=0.0)
    if problem.budget is not None and cheapest > 0:
        most = min(most, int(problem.budget / cheapest + 1e-9))
    return most


def _capped(option: Option, floor: float) -> Option:
    return replace(option, throughput=min(option.throughput, floor))


def _better(a: Solution, b: Solution) -> bool:
    """Met beats unmet; then the cheaper; unmet fleets by more capacity, then cheaper."""
    if a.met != b.met:
        return a.met
    if a.met:
        return a.hourly_cost < b.hourly_cost - 1e-9
    if abs(a.capacity - b.capacity) > 1e-9:
        return a.capacity > b.capacity
    return a.hourly_cost < b.hourly_cost - 1e-9
