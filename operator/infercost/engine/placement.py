"""Placement: integer replicas per (variant, pool) at the lowest $/h, solved exactly.

The problem is a small covering MILP (docs/architecture.md section 1) solved with HiGHS through
`scipy.optimize.milp`:

    minimise   Σ c·n
    subject to Σ T·n ≥ required                       (demand x (1 + headroom))
               min_total ≤ Σ n ≤ max_total            (scaling bounds)
               Σ n over a pool ≤ pool room left by other services
               Σ spot n ≤ maxSpotFraction · Σ n
               Σ c·n ≤ budget                         (budget Cap only)

When demand cannot be met, the same constraints without the demand row are solved twice:
first for the most capacity, then for the cheapest way to get it; the binding limit is
named (BudgetLimited, AtMaxReplicas, PoolCapacityLimited).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from infercost.engine.evolve import evolve
from infercost.engine.limits import more_capacity, relaxations
from infercost.engine.model import Reason
from infercost.engine.options import Key, Option
from infercost.engine.search import Covering, search

Backend = Literal["auto", "highs"]
RowAdder = Callable[[NDArray[np.float64], float, float], None]

_SEARCH_MAX_OPTIONS = 64

# Relative slack when the second stage asks for "at least the best capacity": solver noise.
_TOLERANCE = 1e-9


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One service's placement problem; `options` are the feasible candidates."""

    options: tuple[Option, ...]
    required: float  # inferences/s of capacity to provide
    min_total: int
    max_total: int
    max_spot_fraction: float = 1.0
    budget: float | None = None  # only a Cap budget constrains; Warn is reported afterwards
    current: Mapping[Key, int] | None = None


@dataclass(frozen=True, kw_only=True)
class Solution:
    """Replicas per (variant, pool) (only non-zero entries), what they cost and serve."""

    replicas: Mapping[Key, int]
    hourly_cost: float
    capacity: float
    met: bool  # capacity covers `required` and every bound holds
    limit: Reason | None = None  # why demand is not met, when it is not
    # Every limit that binds, `limit` first: each one, relaxed alone, would give more capacity.
    limits: tuple[Reason, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.replicas.values())


def solve(problem: Problem, *, backend: Backend = "auto", name_limits: bool = True) -> Solution:
    """The cheapest allocation meeting demand, or the most capacity the limits allow.

    `backend` "highs" skips the branch-and-bound search (tests check both agree).
    """
    if not problem.options:
        met = problem.required <= 0 and problem.min_total <= 0
        return Solution(
            replicas={},
            hourly_cost=0.0,
            capacity=0.0,
            met=met,
            limit=None if met else Reason.NO_FEASIBLE_OPTION,
        )
    found = _solve(problem, maximise_capacity=False, backend=backend)
    if found is not None:
        return _solution(problem, found, met=True)
    return _best_effort(problem, name_limits=name_limits)


def _best_effort(problem: Problem, *, name_limits: bool = True) -> Solution:
    """Demand cannot be met: serve as much as the limits allow, as cheaply as possible."""
    relaxed = problem
    most = _solve(relaxed, maximise_capacity=True)
    if most is None:  # min_total itself is out of reach (a Cap budget or full pools)
        relaxed = evolve(problem, min_total=0)
        most = _solve(relaxed, maximise_capacity=True)
    if most is None:
        return Solution(
            replicas={}, hourly_cost=0.0, capacity=0.0, met=False, limit=Reason.NO_FEASIBLE_OPTION
        )
    capacity = _capacity(problem, most)
    floor = capacity * (1 - _TOLERANCE)
    cheapest = _solve(evolve(relaxed, required=floor), maximise_capacity=False)
    chosen = most if cheapest is None else cheapest
    limit = _limit(problem, chosen)
    solution = _solution(problem, chosen, met=False, limit=limit)
    # Naming the other binding limits costs a solve each: skipped where a caller names them.
    named = _binding(problem, chosen, limit) if name_limits else (limit,)
    return evolve(solution, limits=named)


def _limit(problem: Problem, counts: NDArray[np.int64]) -> Reason:
    if problem.budget is not None:
        unbudgeted = evolve(problem, budget=None)
        if _solve(unbudgeted, maximise_capacity=False) is not None:
            return Reason.BUDGET_LIMITED
    if int(counts.sum()) >= problem.max_total:
        return Reason.AT_MAX_REPLICAS
    if _capacity(problem, counts) <= 0:
        return Reason.NO_FEASIBLE_OPTION
    budget_binds = Reason.BUDGET_LIMITED in _binding(problem, counts, Reason.POOL_CAPACITY_LIMITED)
    room_binds = Reason.POOL_CAPACITY_LIMITED in _binding(problem, counts, Reason.BUDGET_LIMITED)
    if budget_binds and not room_binds:
        return Reason.BUDGET_LIMITED  # the budget, not a pool's room, stops more capacity
    return Reason.POOL_CAPACITY_LIMITED


def _binding(problem: Problem, counts: NDArray[np.int64], limit: Reason) -> tuple[Reason, ...]:
    """`limit` and every other limit whose removal alone would give more capacity."""
    most = _capacity(problem, counts)
    named = [limit]
    for reason, wider in relaxations(problem).items():
        if reason == limit:
            continue
        found = _solve(evolve(wider, min_total=0), maximise_capacity=True)
        if found is not None and more_capacity(_capacity(wider, found), most):
            named.append(reason)
    return tuple(named)


def _solution(
    problem: Problem, counts: NDArray[np.int64], *, met: bool, limit: Reason | None = None
) -> Solution:
    plain: list[int] = counts.tolist()  # Python ints: the same sums, without numpy scalars
    options = problem.options
    replicas = {
        option.key: count for option, count in zip(options, plain, strict=True) if count > 0
    }
    hourly = sum(option.hourly_cost * count for option, count in zip(options, plain, strict=True))
    return Solution(
        replicas=replicas,
        hourly_cost=hourly,
        capacity=_capacity(problem, counts),
        met=met,
        limit=limit,
    )


def _capacity(problem: Problem, counts: NDArray[np.int64]) -> float:
    plain: list[int] = counts.tolist()
    return float(sum(o.throughput * c for o, c in zip(problem.options, plain, strict=True)))


def _solve(
    problem: Problem, *, maximise_capacity: bool, backend: Backend = "auto"
) -> NDArray[np.int64] | None:
    """Replica counts per option, or None when infeasible: the search, else HiGHS."""
    # Past a few dozen options the search's per-depth bounds cost more than HiGHS (measured:
    # 128 options, 12 ms against 9 ms); both are exact, so this only picks the faster one.
    if not maximise_capacity and backend == "auto" and len(problem.options) <= _SEARCH_MAX_OPTIONS:
        found, complete = search(_covering(problem))
        if complete:
            return None if found is None else np.array(found, dtype=np.int64)
    return _highs(problem, maximise_capacity=maximise_capacity)


def _covering(problem: Problem) -> Covering:
    options = problem.options
    current = problem.current or {}
    pools = sorted({o.pool for o in options})
    index = {pool: i for i, pool in enumerate(pools)}
    room: list[int | None] = [None] * len(pools)
    for option in options:
        room[index[option.pool]] = option.free_replicas
    return Covering(
        price=[o.hourly_cost for o in options],
        throughput=[o.throughput for o in options],
        upper=[_upper(problem, o) for o in options],
        held=[current.get(o.key, 0) for o in options],
        group=[index[o.pool] for o in options],
        room=room,
        spot=[o.spot for o in options],
        required=problem.required,
        min_total=problem.min_total,
        max_total=problem.max_total,
        max_spot_fraction=problem.max_spot_fraction,
        budget=problem.budget,
    )


def _upper(problem: Problem, option: Option) -> int:
    if option.free_replicas is None:
        return problem.max_total
    return min(problem.max_total, option.free_replicas)


def _highs(problem: Problem, *, maximise_capacity: bool) -> NDArray[np.int64] | None:
    """One HiGHS run; replica counts per option, or None when infeasible."""
    options = problem.options
    count = len(options)
    cost = np.array([o.hourly_cost for o in options], dtype=float)
    throughput = np.array([o.throughput for o in options], dtype=float)
    objective = -throughput if maximise_capacity else cost
    rows: list[NDArray[np.float64]] = []
    lower: list[float] = []
    upper: list[float] = []

    def row(coefficients: NDArray[np.float64], low: float, high: float) -> None:
        rows.append(coefficients)
        lower.append(low)
        upper.append(high)

    if not maximise_capacity and problem.required > 0:
        row(throughput, problem.required, np.inf)
    row(np.ones(count), problem.min_total, problem.max_total)
    _pool_rows(options, row)
    if problem.max_spot_fraction < 1 and any(o.spot for o in options):
        fraction = problem.max_spot_fraction
        row(np.array([(1 - fraction) if o.spot else -fraction for o in options]), -np.inf, 0.0)
    if problem.budget is not None:
        row(cost, -np.inf, problem.budget)
    high = np.array([_upper(problem, o) for o in options], dtype=float)
    result = milp(
        objective,
        constraints=LinearConstraint(np.vstack(rows), np.array(lower), np.array(upper)),
        integrality=np.ones(count),
        bounds=Bounds(np.zeros(count), high),
    )
    if result.status != 0 or result.x is None:
        return None
    counts: NDArray[np.int64] = np.rint(result.x[:count]).astype(np.int64)
    return counts


def _pool_rows(options: tuple[Option, ...], row: RowAdder) -> None:
    """Σ n ≤ room per pool shared by several variants (single-option pools are plain bounds)."""
    by_pool: dict[str, list[int]] = {}
    for index, option in enumerate(options):
        if option.free_replicas is not None:
            by_pool.setdefault(option.pool, []).append(index)
    for indices in by_pool.values():
        if len(indices) > 1:
            coefficients = np.zeros(len(options))
            coefficients[indices] = 1.0
            room = options[indices[0]].free_replicas or 0
            row(coefficients, -np.inf, float(room))


def single_option(problem: Problem, option: Option) -> tuple[int, str | None]:
    """Replicas `option` alone needs for the problem, and why it cannot serve alone (or None).

    Closed form, independent of the MILP: it is what the `plan` table shows per option and
    what the tests compare the MILP against.
    """
    if not option.feasible:
        return 0, option.why_not
    needed = problem.min_total
    if problem.required > 0:
        needed = max(needed, math.ceil(problem.required / option.throughput - _TOLERANCE))
    if needed > problem.max_total:
        return needed, f"needs {needed} replicas, above maxReplicas {problem.max_total}"
    if option.free_replicas is not None and needed > option.free_replicas:
        return needed, f"needs {needed} replicas, pool has room for {option.free_replicas}"
    if option.spot and needed > 0 and problem.max_spot_fraction < 1:
        return needed, f"spot pool alone exceeds maxSpotFraction {problem.max_spot_fraction:g}"
    cost = needed * option.hourly_cost
    if problem.budget is not None and cost > problem.budget + 1e-9:
        return needed, f"${cost:.2f}/h exceeds the budget ${problem.budget:.2f}/h"
    return needed, None
