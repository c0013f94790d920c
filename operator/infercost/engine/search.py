"""Exact depth-first branch and bound for the placement problem's usual case.

Why not only HiGHS: measured on this machine, `scipy.optimize.milp` spends 5-30 ms in
branch and bound on an 8-option instance of this problem (its per-node machinery is built
for large models), against a 2 ms budget per decision. This search exploits the shape of
the problem instead: a covering knapsack with few options and small counts, where the
fractional relaxation (fill by $ per inference/s) is a tight lower bound. It is exact: it
only prunes a branch whose lower bound cannot beat the incumbent. When a node limit is
hit it gives up and the caller solves the same problem with HiGHS, so both paths return an
optimum; tests compare both with brute-force enumeration.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from infercost.engine.covering import Covering
from infercost.engine.relaxation import fill, relaxations, spot_shortfall, spot_tails

__all__ = ["Covering", "search"]

_EPS = 1e-9


class _Node(NamedTuple):
    depth: int
    option: int
    pool: int
    objective: float
    spend: float
    capacity: float
    total: int
    spot: int


class _NodeLimitError(Exception):
    """The node limit was reached: let HiGHS finish the job."""


def search(problem: Covering, *, node_limit: int = 5_000) -> tuple[list[int] | None, bool]:
    """(optimal counts or None when infeasible, True) or (None, False) past the node limit."""
    state = _Search(problem, node_limit)
    if state.reach[0] < problem.required - _EPS:
        return None, True  # all options at their bounds fall short: infeasible, no search
    state.seed()
    try:
        state.descend(0, [0] * len(problem.price), 0.0, 0.0, 0.0, 0, 0)
    except _NodeLimitError:
        return None, False
    return state.best, True


class _Search:
    def __init__(self, problem: Covering, node_limit: int) -> None:
        self.p = problem
        self.nodes_left = node_limit
        count = len(problem.price)
        fraction = problem.max_spot_fraction
        upper = list(problem.upper)
        if fraction <= 0:
            upper = [0 if problem.spot[i] else upper[i] for i in range(count)]
        self.upper = upper
        # With a spot share to respect, on-demand options go first: once they are fixed the
        # share caps the spot count exactly (S <= f/(1-f) x on-demand), which prunes hard.
        self.share = fraction < 1 and any(problem.spot[i] and upper[i] > 0 for i in range(count))
        # Within each group, most efficient first: good incumbents early make bounds bite.
        self.order = sorted(
            (i for i in range(count) if upper[i] > 0 and problem.throughput[i] > 0),
            key=lambda i: (
                self.share and problem.spot[i],
                problem.price[i] / problem.throughput[i],
                i,
            ),
        )
        # Capacity the options from depth d on could add at most (pool sharing ignored: a bound).
        self.reach = [0.0] * (len(self.order) + 1)
        self.cheapest = [math.inf] * (len(self.order) + 1)
        for depth in range(len(self.order) - 1, -1, -1):
            i = self.order[depth]
            self.reach[depth] = self.reach[depth + 1] + upper[i] * problem.throughput[i]
            self.cheapest[depth] = min(self.cheapest[depth + 1], problem.price[i])
        self.best: list[int] | None = None
        self.best_cost = math.inf
        self.used = [0] * len(problem.room)

    def seed(self) -> None:
        """The bounds per depth and the first incumbents: only once a search is due."""
        problem = self.p
        self.plain, self.relaxed = relaxations(
            problem, order=self.order, upper=self.upper, share=self.share
        )
        # What runs now is the incumbent when it is feasible: in a steady state it is usually
        # optimal, and then the search only has to prove that.
        held = list(problem.held)
        if any(held):
            self.offer(held)
        self.spot_only = spot_tails(problem, order=self.order, upper=self.upper, share=self.share)
        if self.share:
            self.seed_mixes()

    def offer(self, counts: list[int]) -> None:
        """Take `counts` as the incumbent when it is feasible and better."""
        if self.feasible(counts):
            value = sum(price * n for price, n in zip(self.p.price, counts, strict=True))
            if value < self.best_cost - _EPS:
                self.best, self.best_cost = list(counts), value

    def seed_mixes(self) -> None:
        """Incumbents from one on-demand option alone or mixed with one spot option.

        The bound is tight but a spot share makes the first complete dive poor; measured on
        random 12-option instances, seeding cut the worst searches from 100,000 nodes to a
        few hundred. Cost along a mix is nearly linear in the on-demand count, so its ends
        (fewest on-demand the share allows, and on-demand alone) are where the optimum is.
        """
        p = self.p
        ranked = sorted(self.order, key=lambda i: (p.price[i] / p.throughput[i], i))
        spots = [i for i in ranked if p.spot[i]][:2]
        others = [i for i in ranked if not p.spot[i]][:2]
        ratio = p.max_spot_fraction / (1 - p.max_spot_fraction)
        for o in others:
            limit = min(self.upper[o], p.max_total)
            alone = max(p.min_total, math.ceil(p.required / p.throughput[o] - _EPS))
            self.offer(self.mix(o, min(alone, limit), None, 0))
            for s in spots:
                spot_need = p.required / p.throughput[s]
                start = max(
                    0, math.floor(spot_need / (ratio + p.throughput[o] / p.throughput[s])) - 1
                )
                for n_other in range(start, min(alone, limit) + 1):
                    short = p.required - n_other * p.throughput[o]
                    n_spot = max(0, math.ceil(short / p.throughput[s] - _EPS))
                    if n_spot <= math.floor(ratio * n_other + _EPS):
                        self.offer(self.mix(o, n_other, s, n_spot))
                        break

    def mix(self, other: int, n_other: int, spot: int | None, n_spot: int) -> list[int]:
        counts = [0] * len(self.p.price)
        counts[other] = n_other
        if spot is not None:
            counts[spot] = n_spot
        return counts

    def feasible(self, counts: list[int]) -> bool:
        p, upper = self.p, self.upper
        spots, throughput, price, group = p.spot, p.throughput, p.price, p.group
        # One pass; the sums add in index order, as sum() over the counts would.
        total = spot = 0
        capacity = spend = 0.0
        used = [0] * len(p.room)
        for i, n in enumerate(counts):
            if n > upper[i]:
                return False
            total += n
            if spots[i]:
                spot += n
            capacity += n * throughput[i]
            spend += n * price[i]
            used[group[i]] += n
        return (
            capacity >= p.required - _EPS * max(1.0, p.required)
            and p.min_total <= total <= p.max_total
            and spot <= p.max_spot_fraction * total + _EPS
            and (p.budget is None or spend <= p.budget + _EPS)
            and all(room is None or used[g] <= room for g, room in enumerate(p.room))
        )

    def descend(
        self,
        depth: int,
        counts: list[int],
        objective: float,
        spend: float,
        capacity: float,
        total: int,
        spot: int,
    ) -> None:
        p = self.p
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise _NodeLimitError
        if depth == len(self.order):
            self.leaf(counts, objective, capacity, total, spot)
            return
        i = self.order[depth]
        pool = p.group[i]
        room = p.room[pool]
        limit = min(self.upper[i], p.max_total - total)
        if room is not None:
            limit = min(limit, room - self.used[pool])
        if self.share and p.spot[i]:
            # On-demand options are all fixed by now (they come first): the share caps spot.
            fraction = p.max_spot_fraction
            allowed = (fraction * (total - spot) - (1 - fraction) * spot) / (1 - fraction)
            limit = min(limit, math.floor(allowed + _EPS))
        need = p.required - capacity
        enough = min(limit, max(0, math.ceil(need / p.throughput[i] - _EPS)))
        node = _Node(depth, i, pool, objective, spend, capacity, total, spot)
        price = p.price[i]
        if self.share and not p.spot[i]:
            # On-demand under a spot share: fewest first, so the first complete dive already
            # fills the share with cheap spot replicas (a good incumbent early).
            for count in range(limit + 1):
                value = objective + price * count
                if value >= self.best_cost - _EPS:
                    break
                self.branch(node, counts, count, value)
            return
        # Counts that just cover demand first, downwards; fewer than that must be made up by
        # later options, so stop once they cannot.
        throughput, beyond = p.throughput[i], self.reach[depth + 1] + _EPS
        for count in range(enough, -1, -1):
            if p.required - (capacity + count * throughput) > beyond:
                break
            value = objective + price * count
            # The bound is never negative: a branch whose own cost reaches the incumbent is
            # pruned by it whatever the bound says, so it need not be worked out.
            if value < self.best_cost - _EPS:
                self.branch(node, counts, count, value)
        # More than enough only pays for a side constraint (minReplicas, the spot share);
        # the cost only rises with the count, so stop once it alone reaches the incumbent.
        for count in range(enough + 1, limit + 1):
            value = objective + price * count
            if value >= self.best_cost - _EPS:
                break
            if p.budget is not None and spend + price * count > p.budget + _EPS:
                break
            self.branch(node, counts, count, value)

    def branch(self, node: _Node, counts: list[int], count: int, value: float) -> None:
        """Descend into `count` replicas of the node's option; `value`: the objective so far."""
        p, i = self.p, node.option
        added = node.capacity + count * p.throughput[i]
        money = node.spend + p.price[i] * count
        if p.budget is not None and money > p.budget + _EPS:
            return
        spot = node.spot + (count if p.spot[i] else 0)
        depth = node.depth + 1
        need = p.required - added
        # The bound (inline: the hot loop): the fractional fill, strengthened by a Lagrangian
        # term for the spot share (`slack`: how many more spot replicas, weighted, the share
        # still allows; any multiplier >= 0 keeps it a lower bound) and by minReplicas.
        lower = fill(self.plain[depth], need)
        if lower < math.inf and self.share:
            multiplier, taken_cost, taken_capacity, rest = self.relaxed[depth]
            if multiplier > 0:
                other = node.total + count - spot
                slack = p.max_spot_fraction * other - (1 - p.max_spot_fraction) * spot
                lagrangian = taken_cost + fill(rest, need - taken_capacity) - multiplier * slack
                lower = max(lower, lagrangian)
        replicas_needed = p.min_total - node.total - count
        if replicas_needed > 0:
            lower = max(lower, replicas_needed * self.cheapest[depth])
        if value + lower >= self.best_cost - _EPS:
            return
        spots_left = self.spot_only[depth]
        if spots_left is not None and spot_shortfall(
            self.p, total=node.total + count, spot=spot, need=need, spots_left=spots_left
        ):
            return  # no leaf below is feasible: pruning it changes no incumbent
        counts[i] = count
        self.used[node.pool] += count
        self.descend(depth, counts, value, money, added, node.total + count, spot)
        self.used[node.pool] -= count
        counts[i] = 0

    def leaf(
        self, counts: list[int], objective: float, capacity: float, total: int, spot: int
    ) -> None:
        p = self.p
        if capacity < p.required - _EPS * max(1.0, p.required):
            return
        if not p.min_total <= total <= p.max_total:
            return
        if spot > p.max_spot_fraction * total + _EPS:
            return
        if objective < self.best_cost - _EPS:
            self.best_cost = objective
            self.best = list(counts)
