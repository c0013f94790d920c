"""Placement is exact: property tests against brute-force enumeration on small instances."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infercost.engine.model import Reason
from infercost.engine.options import Option
from infercost.engine.placement import Backend, Problem, Solution, single_option, solve

pytestmark = pytest.mark.unit

EPS = 1e-6


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    count = draw(st.integers(1, 3))
    pool_names = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=count, max_size=count))
    rooms = {name: draw(st.one_of(st.none(), st.integers(0, 5))) for name in "abc"}
    spot = {name: draw(st.booleans()) for name in "abc"}
    options = tuple(
        Option(
            variant=f"v{i}",
            pool=pool,
            accelerator_type="x",
            hourly_cost=draw(st.integers(1, 40)) / 10,
            throughput=float(draw(st.integers(50, 2000))),
            batching=None,
            spot=spot[pool],
            free_replicas=rooms[pool],
            startup_seconds=0.0,
        )
        for i, pool in enumerate(pool_names)
    )
    min_total = draw(st.integers(0, 2))
    max_total = draw(st.integers(max(min_total, 1), 6))
    budget = draw(st.one_of(st.none(), st.integers(1, 200).map(lambda x: x / 10)))
    current = {o.key: draw(st.integers(0, 3)) for o in options}
    return Problem(
        current=current,
        options=options,
        required=float(draw(st.integers(0, 8000))),
        min_total=min_total,
        max_total=max_total,
        max_spot_fraction=draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        budget=budget,
    )


def _allowed(problem: Problem, counts: tuple[int, ...]) -> bool:
    """Every constraint except demand (brute force's own statement of the rules)."""
    total = sum(counts)
    if not problem.min_total <= total <= problem.max_total:
        return False
    used: dict[str, int] = {}
    for option, n in zip(problem.options, counts, strict=True):
        used[option.pool] = used.get(option.pool, 0) + n
    for option in problem.options:
        if option.free_replicas is not None and used[option.pool] > option.free_replicas:
            return False
    spot = sum(n for option, n in zip(problem.options, counts, strict=True) if option.spot)
    if spot > problem.max_spot_fraction * total + EPS:
        return False
    cost = sum(o.hourly_cost * n for o, n in zip(problem.options, counts, strict=True))
    return problem.budget is None or cost <= problem.budget + EPS


def _objective(problem: Problem, counts: tuple[int, ...]) -> float:
    """$/h."""
    return sum(o.hourly_cost * n for o, n in zip(problem.options, counts, strict=True))


def _brute_force(problem: Problem) -> tuple[float | None, float | None]:
    """(best objective meeting demand, most capacity of any allowed allocation); None: none."""
    best_cost: float | None = None
    best_capacity: float | None = None
    ranges = [range(problem.max_total + 1) for _ in problem.options]
    for counts in itertools.product(*ranges):
        if not _allowed(problem, counts):
            continue
        capacity = sum(o.throughput * n for o, n in zip(problem.options, counts, strict=True))
        cost = _objective(problem, counts)
        best_capacity = capacity if best_capacity is None else max(best_capacity, capacity)
        if capacity >= problem.required - EPS and (best_cost is None or cost < best_cost - EPS):
            best_cost = cost
    return best_cost, best_capacity


def _respects_limits(problem: Problem, solution: Solution) -> None:
    counts = tuple(solution.replicas.get(o.key, 0) for o in problem.options)
    used: dict[str, int] = {}
    for option, n in zip(problem.options, counts, strict=True):
        used[option.pool] = used.get(option.pool, 0) + n
    for option in problem.options:
        if option.free_replicas is not None:
            assert used[option.pool] <= option.free_replicas
    if problem.budget is not None:
        assert solution.hourly_cost <= problem.budget + EPS
    assert solution.total <= problem.max_total
    spot = sum(n for option, n in zip(problem.options, counts, strict=True) if option.spot)
    assert spot <= problem.max_spot_fraction * solution.total + EPS


QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(problems(), st.sampled_from(["auto", "highs"]))
def test_milp_equals_brute_force(problem: Problem, backend: Backend) -> None:
    cheapest, most = _brute_force(problem)
    solution = solve(problem, backend=backend)
    _respects_limits(problem, solution)
    if cheapest is not None:
        assert solution.met, "a feasible allocation exists but the MILP did not find one"
        counts = tuple(solution.replicas.get(o.key, 0) for o in problem.options)
        assert math.isclose(_objective(problem, counts), cheapest, rel_tol=1e-9, abs_tol=EPS)
        assert solution.capacity >= problem.required - EPS
    else:
        assert not solution.met
        assert solution.limit is not None
        # Serving as much as the limits allow; when even minReplicas is out of reach (budget,
        # full pools) the floor is dropped rather than the budget or the pools' limits.
        if most is None:
            _, most = _brute_force(replace(problem, min_total=0))
        assert most is not None
        assert math.isclose(solution.capacity, most, rel_tol=1e-9, abs_tol=EPS)


@QUICK
@given(problems())
def test_never_costs_more_than_the_best_single_pool(problem: Problem) -> None:
    problem = replace(problem, current=None)  # a fresh placement
    solution = solve(problem)
    for option in problem.options:
        needed, why_not = single_option(problem, option)
        if why_not is None:
            assert solution.met
            assert solution.hourly_cost <= needed * option.hourly_cost + EPS


@QUICK
@given(problems())
def test_deterministic(problem: Problem) -> None:
    assert solve(problem) == solve(problem)


def _option(name: str, *, cost: float, throughput: float, pool: str | None = None) -> Option:
    return Option(
        variant=name,
        pool=pool or name,
        accelerator_type="x",
        hourly_cost=cost,
        throughput=throughput,
        batching=None,
        spot=False,
        free_replicas=None,
        startup_seconds=0.0,
    )


def test_cap_budget_serves_what_the_budget_buys() -> None:
    options = (_option("a", cost=1.0, throughput=100.0),)
    problem = Problem(options=options, required=1000.0, min_total=1, max_total=50, budget=3.5)
    solution = solve(problem)
    assert solution.replicas == {("a", "a"): 3}
    assert solution.limit == Reason.BUDGET_LIMITED


def test_budget_below_one_replica_places_nothing_and_says_budget() -> None:
    options = (_option("a", cost=1.0, throughput=100.0),)
    problem = Problem(options=options, required=50.0, min_total=1, max_total=5, budget=0.5)
    solution = solve(problem)
    assert solution.replicas == {}
    assert solution.limit == Reason.BUDGET_LIMITED


def test_pool_capacity_shared_by_variants_of_one_pool() -> None:
    options = (
        _option("a", cost=1.0, throughput=100.0, pool="p"),
        _option("b", cost=1.0, throughput=90.0, pool="p"),
    )
    limited = tuple(replace(o, free_replicas=3) for o in options)
    solution = solve(Problem(options=limited, required=1000.0, min_total=0, max_total=50))
    assert solution.total == 3
    assert solution.limit == Reason.POOL_CAPACITY_LIMITED


def test_max_replicas_limit_is_named() -> None:
    options = (_option("a", cost=1.0, throughput=100.0),)
    solution = solve(Problem(options=options, required=1000.0, min_total=0, max_total=4))
    assert solution.total == 4
    assert solution.limit == Reason.AT_MAX_REPLICAS


def test_no_options_is_no_feasible_option() -> None:
    solution = solve(Problem(options=(), required=10.0, min_total=1, max_total=4))
    assert solution.limit == Reason.NO_FEASIBLE_OPTION


def test_a_near_tie_goes_to_the_cheaper_option_and_a_tie_to_what_runs() -> None:
    # Placement is $/h alone: what keeps a running fleet on a near tie is the planner's move
    # rules (tests/unit/engine/test_moves.py), not the solver. On an exact tie the solver
    # keeps what runs (it is the first incumbent, and only a cheaper fleet replaces it).
    options = (
        _option("old", cost=1.0, throughput=100.0),
        _option("new", cost=0.98, throughput=100.0),
    )
    problem = Problem(
        options=options, required=300.0, min_total=0, max_total=10, current={("old", "old"): 3}
    )
    assert solve(problem).replicas == {("new", "new"): 3}
    tie = (_option("old", cost=1.0, throughput=100.0), _option("new", cost=1.0, throughput=100.0))
    assert solve(replace(problem, options=tie)).replicas == {("old", "old"): 3}
