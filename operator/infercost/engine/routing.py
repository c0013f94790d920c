"""How requests reach the replicas, and so how much a mixed fleet serves.

The operator puts one Kubernetes Service in front of every Deployment of an
InferenceService, and a Service spreads requests in equal shares per ready replica whatever
each replica can serve. A fleet of N replicas then serves N x its weakest replica's capacity
before that replica queues: one small replica beside a large one wastes most of the large
one. Placement solves with summed capacity (a relaxation) and, when the cheapest fleet it
finds mixes replica sizes, once more per possible weakest replica. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from infercost.engine.derived import Derived
from infercost.engine.evolve import evolve
from infercost.engine.limits import relaxations
from infercost.engine.options import Key, Option
from infercost.engine.placement import Problem, Solution, solve

# Problems remembered per service before its table starts again: a steady service poses 3-4
# a round, and in the simulator 4 answer as many as any number (decides nothing: memory).
SOLVED_PER_SERVICE = 8


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


def problem_key(problem: Problem) -> tuple[object, ...]:
    """Every field of `problem` a solve reads, as a hashable key: equal keys, equal solutions.

    Of each option only its key, price, throughput, spot flag and pool room are read
    (batching, start-up time and why-not are not); `current` in key order (it is only
    looked up by key), with None and {} alike (both mean nothing runs).
    """
    return (
        tuple(
            (o.variant, o.pool, o.hourly_cost, o.throughput, o.spot, o.free_replicas)
            for o in problem.options
        ),
        problem.required,
        problem.min_total,
        problem.max_total,
        problem.max_spot_fraction,
        problem.budget,
        tuple(sorted(problem.current.items())) if problem.current else (),
    )


# Solutions by everything a solve reads (problem_key), kept per service (its spec object, for
# as long as it lives): a steady fleet's what-ifs at the held peak or at one headroom higher
# recur every interval (measured in the simulator, 3 of 4 solves repeat an earlier one). A
# solve is a pure function of those fields, so a repeat's answer is the same. Per service, not
# one table for all: in one table of the 8,192 problems used last, a round over more than
# ~2,500 services (3-4 problems each) evicted every entry before its next use.
_SOLVED: Derived[Solution] = Derived(per_owner=SOLVED_PER_SERVICE)


def forget() -> None:
    """Drop every remembered solution (benchmarks time the solver itself with it)."""
    _SOLVED.clear()


def solve_routed(
    problem: Problem, *, owner: object, equal_share: bool, name_limits: bool = True
) -> Solution:
    """The cheapest fleet for `problem` with the capacity the routing really gives it,
    remembered for `owner` (the service's spec object).

    Unmet, its `limits` are those whose removal alone gives more capacity under this routing
    (`name_limits` False: the headline limit alone, for the relaxed runs that find them)."""
    memo = (problem_key(problem), equal_share, name_limits)
    known = _SOLVED.get(owner, memo)
    if known is not None:
        return known
    solution = _solve_routed(problem, equal_share=equal_share, name_limits=name_limits)
    _SOLVED.put(owner, memo, solution)
    return solution


def _solve_routed(problem: Problem, *, equal_share: bool, name_limits: bool) -> Solution:
    relaxed = solve(problem, name_limits=name_limits and not equal_share)
    if not equal_share:
        return relaxed
    throughput = {option.key: option.throughput for option in problem.options}
    served = fleet_capacity(relaxed.replicas, throughput, equal_share=True)
    if relaxed.met and served >= problem.required * (1 - 1e-9):
        return evolve(relaxed, capacity=served)  # feasible, so optimal
    best: Solution | None = None
    for floor in sorted({t for t in throughput.values() if t > 0}):
        options = tuple(_capped(o, floor) for o in problem.options if o.throughput >= floor)
        if (
            best is not None
            and best.met
            and _cost_floor(problem, options, floor) >= best.hourly_cost
        ):
            continue  # no fleet of this size can be cheaper than the best one: not better
        found = solve(evolve(problem, options=options), name_limits=False)
        if best is None or _better(found, best):
            best = found
    if best is None:
        return evolve(relaxed, capacity=served)
    if best.met or best.limit is None:
        return best
    named = [best.limit]
    for reason, wider in relaxations(problem).items() if name_limits else ():
        if reason != best.limit and _serves_more(wider, best.capacity):
            named.append(reason)
    return evolve(best, limits=tuple(named))


def _cost_floor(problem: Problem, options: tuple[Option, ...], floor: float) -> float:
    """A lower bound on the $/h of any fleet of `options` (each serving `floor`) that meets
    `problem`: the fewest replicas that carry the demand, on the cheapest options first.

    Slightly under the true bound on purpose (1e-6 relative on the replica count, beyond any
    solver tolerance or rounding of a sum), so skipping on it never skips a better fleet.
    """
    fewest = max(problem.min_total, math.ceil(problem.required * (1 - 1e-6) / floor - 1e-6))
    if (1 - problem.max_spot_fraction) * fewest > 1e-6 and all(o.spot for o in options):
        return math.inf  # spot alone breaks the share at any count that carries the demand
    cost = 0.0
    for price, upper in sorted((o.hourly_cost, _room(problem, o)) for o in options):
        take = min(fewest, upper)
        cost += take * price
        fewest -= take
        if fewest <= 0:
            return cost * (1 - 1e-9)
    return math.inf  # the options cannot hold that many replicas: nothing meets demand


def _room(problem: Problem, option: Option) -> int:
    if option.free_replicas is None:
        return problem.max_total
    return min(problem.max_total, option.free_replicas)


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
        if solve(evolve(problem, options=capped, required=target, min_total=0),
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
    return evolve(option, throughput=min(option.throughput, floor))


def _better(a: Solution, b: Solution) -> bool:
    """Met beats unmet; then the cheaper; unmet fleets by more capacity, then cheaper."""
    if a.met != b.met:
        return a.met
    if a.met:
        return a.hourly_cost < b.hourly_cost - 1e-9
    if abs(a.capacity - b.capacity) > 1e-9:
        return a.capacity > b.capacity
    return a.hourly_cost < b.hourly_cost - 1e-9
