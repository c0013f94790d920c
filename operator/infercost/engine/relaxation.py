"""Lower bounds for the placement search: fractional fills, plain and Lagrangian.

For the options left at some depth of the search, the cheapest *fractional* way to add
capacity (fill by $ per inference/s up to each option's bound) is a lower bound on any
integer completion. The spot share is folded in with a Lagrangian multiplier: spot
replicas pay (1-f)·λ more, on-demand ones f·λ less; for any λ >= 0 the result is still a
lower bound, and the λ at which the best spot and the best on-demand option become equally
efficient is close to the LP optimum. Both are precomputed per depth (prices do not change
during a search), so a bound costs one pass over a sorted list.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infercost.engine.covering import Covering

_EPS = 1e-9

Fill = list[tuple[float, float, int]]  # (price, throughput, upper) by price per throughput
Relaxed = tuple[float, float, float, Fill]  # (λ, cost taken in full, capacity taken, rest)


def fill(items: Fill, need: float) -> float:
    """Cheapest fractional cover of `need` by `items`; inf when they cannot cover it."""
    total = 0.0
    if need <= _EPS:
        return total
    for price, throughput, upper in items:
        take = need / throughput
        if take <= upper:
            return total + take * price
        total += upper * price
        need -= upper * throughput
    return math.inf


def relaxations(
    problem: Covering, *, order: list[int], upper: list[int], share: bool
) -> tuple[list[Fill], list[Relaxed]]:
    """Per depth of `order`: the plain fill order, and the Lagrangian one (only with a share:
    without one the search never reads it)."""
    if not share:
        # `order` is then sorted by $ per inference/s and index, the fill order itself: each
        # depth's fill is a suffix of one list (the same lists, without a sort per depth).
        ranked = [(problem.price[i], problem.throughput[i], upper[i]) for i in order]
        return [ranked[depth:] for depth in range(len(order) + 1)], []
    plain: list[Fill] = []
    relaxed: list[Relaxed] = []
    fraction = problem.max_spot_fraction
    weight = [(1 - fraction) if spot else -fraction for spot in problem.spot]
    # Each depth's fill order is the one ranking of all options, less those fixed before it
    # (the sort key is a total order): one sort, then a filter per depth. The Lagrangian
    # order changes only with the multiplier, which few depths change.
    by_efficiency = _ranked(problem, order, [problem.price[i] for i in order])
    by_multiplier: dict[float, list[tuple[int, float]]] = {}
    for depth in range(len(order) + 1):
        items = order[depth:]
        left = set(items)
        plain.append(
            [(price, problem.throughput[i], upper[i]) for i, price in by_efficiency if i in left]
        )
        multiplier = _multiplier(problem, items)
        prices = [problem.price[i] + multiplier * weight[i] for i in items]
        # Options the multiplier makes worth more than free are taken in full.
        taken = [(pr, i) for pr, i in zip(prices, items, strict=True) if pr < 0]
        if multiplier not in by_multiplier:
            adjusted = [problem.price[i] + multiplier * weight[i] for i in order]
            by_multiplier[multiplier] = _ranked(problem, order, adjusted)
        relaxed.append(
            (
                multiplier,
                sum(pr * upper[i] for pr, i in taken),
                sum(problem.throughput[i] * upper[i] for _, i in taken),
                [
                    (price, problem.throughput[i], upper[i])
                    for i, price in by_multiplier[multiplier]
                    if i in left and price >= 0
                ],
            )
        )
    return plain, relaxed


def _ranked(problem: Covering, items: list[int], prices: list[float]) -> list[tuple[int, float]]:
    """(option, price) by price per inference/s, then index (a total order)."""
    return sorted(
        zip(items, prices, strict=True),
        key=lambda pair: (pair[1] / problem.throughput[pair[0]], pair[0]),
    )


def _multiplier(problem: Covering, items: list[int]) -> float:
    """λ at which the most efficient spot and on-demand options cost the same per inference/s."""
    ratio = [problem.price[i] / problem.throughput[i] for i in range(len(problem.price))]
    spot = [(ratio[i], i) for i in items if problem.spot[i]]
    other = [(ratio[i], i) for i in items if not problem.spot[i]]
    if not spot or not other:
        return 0.0
    (spot_ratio, s), (other_ratio, o) = min(spot), min(other)
    if spot_ratio >= other_ratio:
        return 0.0
    fraction = problem.max_spot_fraction
    per_unit = (1 - fraction) / problem.throughput[s] + fraction / problem.throughput[o]
    return (other_ratio - spot_ratio) / per_unit


SpotTail = list[tuple[float, int]]  # (throughput, upper) of the spot options left, fastest first


def spot_tails(
    problem: Covering, *, order: list[int], upper: list[int], share: bool
) -> list[SpotTail | None]:
    """Per depth of `order` where only spot options are left under a share (they come last):
    those options by throughput, to bound the capacity the share still lets them add."""
    tails: list[SpotTail | None] = [None] * (len(order) + 1)
    if not share:
        return tails
    for depth in range(len(order), -1, -1):
        rest = order[depth:]
        if not all(problem.spot[i] for i in rest):
            break
        tails[depth] = sorted(((problem.throughput[i], upper[i]) for i in rest), reverse=True)
    return tails


def spot_shortfall(
    problem: Covering, *, total: int, spot: int, need: float, spots_left: SpotTail
) -> bool:
    """Whether the spot replicas the share still allows cannot add `need` capacity.

    On-demand options are all fixed by then, so the share caps the spot replicas still to
    come (the search's limit, which falls by one per replica taken); the most they can add is
    the fastest options' first. Slack of 1e-6 on both sides: only a shortfall beyond any
    rounding prunes, so no feasible completion is ever cut.
    """
    fraction = problem.max_spot_fraction
    allowed = (fraction * (total - spot) - (1 - fraction) * spot) / (1 - fraction)
    room = min(math.floor(allowed + 1e-6), problem.max_total - total)
    reach = 0.0
    for throughput, most in spots_left:
        if room <= 0:
            break
        take = min(most, room)
        reach += take * throughput
        room -= take
    return need > reach + 1e-6 * max(1.0, problem.required)
