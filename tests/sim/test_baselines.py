"""The baselines are honest: the oracle is an exact lower bound under the planner's own rules,
hpa follows HPA v2's replica calculation, keda-queue KEDA's HTTP add-on."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tests.support.scenarios import shortened

from infercost.api.pool import CapacityType
from infercost.api.service import BudgetAction
from infercost.sim.cover import Frontier, Group, Rules, capacities, cheapest, payable
from infercost.sim.fleet import Fleet
from infercost.sim.oracle import EqualShareOracle, Oracle
from infercost.sim.policy import external_metric_replicas, pods_metric_replicas
from infercost.sim.run import simulate, simulate_policy
from infercost.sim.scenario import load_scenario
from infercost.sim.world import World, build_world

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "examples" / "scenarios").glob("*.yaml"))


def _feasible(rules: Rules, room: tuple[int | None, ...], counts: tuple[int, ...]) -> bool:
    total = sum(counts)
    if not rules.min_total <= total <= rules.max_total:
        return False
    spot = sum(c for c, s in zip(counts, rules.spot, strict=True) if s)
    if spot > rules.max_spot_fraction * total + 1e-9:
        return False
    cost = float(np.dot(rules.price, counts))
    if rules.budget is not None and cost > rules.budget * (1 + 1e-9):
        return False
    for p, limit in enumerate(room):
        used = sum(c for c, q in zip(counts, rules.pool, strict=True) if q == p)
        if limit is not None and used > limit:
            return False
    return True


def _by_capacity(capacity: tuple[float, ...], counts: tuple[int, ...]) -> float:
    """What a fleet carries when routing weighs replicas by capacity: the sum."""
    return float(np.dot(capacity, counts))


def _by_equal_share(capacity: tuple[float, ...], counts: tuple[int, ...]) -> float:
    """What a fleet carries behind equal shares: its count x its weakest replica."""
    used = [c for c, k in zip(capacity, counts, strict=True) if k > 0]
    return sum(counts) * min(used) if used else 0.0


def _brute(
    rules: Rules,
    room: tuple[int | None, ...],
    demand: float,
    carried: Callable[[tuple[float, ...], tuple[int, ...]], float] = _by_capacity,
) -> tuple[float, float]:
    """(served, cost): cover at least cost, else serve the most, then at least cost."""
    ranges = [range(rules.max_total + 1)] * len(rules.capacity)
    found = [
        (min(carried(rules.capacity, n), demand), float(np.dot(rules.price, n)))
        for n in itertools.product(*ranges)
        if _feasible(rules, room, n)
    ]
    most = max(served for served, _ in found)
    return most, min(cost for served, cost in found if served >= most - 1e-6)


def _random_rules(rng: np.random.Generator) -> tuple[Rules, tuple[int | None, ...]]:
    count = int(rng.integers(2, 5))
    pools = 3
    budget = float(rng.uniform(1.0, 6.0)) if rng.random() < 0.4 else None
    return (
        Rules(
            capacity=tuple(float(x) for x in rng.uniform(20, 200, count).round(1)),
            price=tuple(float(x) for x in rng.uniform(0.1, 2.0, count).round(3)),
            spot=tuple(bool(x) for x in rng.random(count) < 0.4),
            pool=tuple(int(x) for x in rng.integers(0, pools, count)),
            min_total=int(rng.integers(0, 3)),
            max_total=int(rng.integers(3, 6)),
            max_spot_fraction=float(rng.choice([0.0, 0.25, 0.5, 1.0])),
            budget=budget,
        ),
        tuple(int(rng.integers(1, 5)) if rng.random() < 0.5 else None for _ in range(pools)),
    )


@pytest.mark.parametrize("seed", range(40))
def test_the_frontier_is_the_brute_force_optimum_under_every_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rules, room = _random_rules(rng)
    group = payable(Group((rules,), room))
    frontier = Frontier(group)
    demand = np.concatenate([[0.0], rng.uniform(0, 900, 25)])
    counts = frontier.lookup(demand)
    effective = group.services[0]
    for step, need in enumerate(demand):
        chosen = counts[:, step]
        assert _feasible(effective, room, tuple(int(c) for c in chosen)), (rules, chosen)
        served = min(float(np.dot(rules.capacity, chosen)), need)
        cost = float(np.dot(rules.price, chosen))
        best_served, best_cost = _brute(effective, room, need)
        assert served == pytest.approx(best_served, rel=1e-6, abs=1e-6)
        assert cost == pytest.approx(best_cost, rel=1e-6, abs=1e-9), (rules, room, need)


def test_a_min_replicas_the_cap_cannot_pay_for_is_dropped_as_the_planner_drops_it() -> None:
    rules = Rules(
        capacity=(100.0,), price=(2.0,), spot=(False,), pool=(0,), min_total=3, max_total=9
    )
    capped = replace(rules, budget=5.0)
    assert payable(Group((capped,), (None,))).services[0].min_total == 0
    assert payable(Group((rules,), (None,))).services[0].min_total == 3
    counts, covered = cheapest(payable(Group((capped,), (None,))), [1000.0])
    assert not covered
    assert counts.tolist() == [2]


def test_services_sharing_a_bounded_pool_are_solved_jointly() -> None:
    # Both services prefer the cheap pool 0 (room 3); pool 1 is dear and unbounded.
    a = Rules(
        capacity=(100.0, 100.0), price=(1.0, 3.0), spot=(False, False), pool=(0, 1),
        min_total=0, max_total=5,
    )  # fmt: skip
    b = replace(a, capacity=(50.0, 100.0))
    group = Group((a, b), (3, None))
    for demand in ([200.0, 100.0], [300.0, 150.0], [50.0, 50.0]):
        counts, covered = cheapest(group, demand)
        assert covered
        assert counts[0] + counts[2] <= 3
        best = min(
            np.dot([1.0, 3.0, 1.0, 3.0], n)
            for n in itertools.product(range(6), repeat=4)
            if n[0] + n[2] <= 3
            and 100 * (n[0] + n[1]) >= demand[0]
            and 50 * n[2] + 100 * n[3] >= demand[1]
        )
        assert float(np.dot([1.0, 3.0, 1.0, 3.0], counts)) == pytest.approx(best)
        assert all(c >= d for c, d in zip(capacities(group, counts), demand, strict=True))


def _oracle_plan(world: World) -> tuple[Oracle, np.ndarray]:
    oracle = Oracle()
    oracle.start(Fleet(world, capacity_routing=True))
    return oracle, oracle.oracle_ready(0, world.steps)


def _check_rules(world: World, plan: np.ndarray) -> None:
    for pool in world.scenario.pools:
        rows = [o.index for o in world.options if o.pool.metadata.name == pool.metadata.name]
        if pool.spec.max_replicas is not None and rows:
            assert plan[rows].sum(axis=0).max() <= pool.spec.max_replicas
    for s, svc in enumerate(world.services):
        rows = [o.index for o in world.options_of(s)]
        spot = [
            o.index for o in world.options_of(s) if o.pool.spec.capacity_type == CapacityType.SPOT
        ]
        total = plan[rows].sum(axis=0)
        assert total.max() <= svc.spec.scaling.max_replicas
        share = svc.spec.placement.max_spot_fraction
        assert np.all(plan[spot].sum(axis=0) <= share * total + 1e-9)
        hourly = (
            plan[rows] * np.array([world.options[d].price_per_replica for d in rows])[:, None]
        ).sum(0)
        budget = svc.spec.budget
        if budget is not None and budget.on_exceeded == BudgetAction.CAP:
            assert hourly.max() <= budget.max_hourly_cost + 1e-9


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_oracle_keeps_every_rule_and_never_pays_more_than_infercost(path: Path) -> None:
    world = build_world(shortened(path, 1800))
    _, plan = _oracle_plan(world)
    _check_rules(world, plan)
    oracle, planned = simulate(world, "oracle"), simulate(world, "infercost")
    assert oracle.budget_violation_seconds == 0
    assert oracle.cost_usd <= planned.cost_usd
    # Where the rules let it cover demand it meets the SLO; a binding Cap may not.
    capped = any(s.spec.budget and s.spec.budget.on_exceeded == BudgetAction.CAP
                 and s.spec.budget.max_hourly_cost < 3 for s in world.services)  # fmt: skip
    assert capped or oracle.slo_attainment >= 0.99


@pytest.mark.parametrize("seed", range(40))
def test_the_equal_share_oracle_is_the_brute_force_optimum_of_equal_shares(seed: int) -> None:
    """Every fleet under every rule, each carrying N x its weakest replica: the cheapest that
    covers the demand, else the one that serves most (then the cheapest of those)."""
    rng = np.random.default_rng(1000 + seed)
    rules, room = _random_rules(rng)
    rules = payable(Group((rules,), room)).services[0]  # as the oracle's start does
    demands = np.sort(rng.uniform(0, 700, 6)).astype(np.float64)
    oracle = EqualShareOracle()
    oracle.frontiers = {}
    counts = oracle._alone(rules, room, demands)
    for k, demand in enumerate(demands):
        n = counts[:, k]
        assert _feasible(rules, room, tuple(int(x) for x in n))
        served = min(_by_equal_share(rules.capacity, tuple(int(x) for x in n)), float(demand))
        most, cost = _brute(rules, room, float(demand), _by_equal_share)
        assert served == pytest.approx(most, rel=1e-6, abs=1e-6)
        assert float(np.dot(rules.price, n)) == pytest.approx(cost, rel=1e-6, abs=1e-9)


def test_equal_shares_cost_the_oracle_what_capacity_routing_saves() -> None:
    """A 100/s replica at $1/h and a 30/s one at $0.5/h: for 130/s capacity routing pays
    $1.5/h (one of each); equal shares make that pair carry 60/s, so two large ($2/h)."""
    rules = Rules(
        capacity=(100.0, 30.0),
        price=(1.0, 0.5),
        spot=(False, False),
        pool=(0, 1),
        min_total=1,
        max_total=10,
    )
    demand = np.array([130.0, 90.0, 20.0])
    routed, equal = Oracle(), EqualShareOracle()
    routed.frontiers, equal.frontiers = {}, {}
    by_capacity = routed._alone(rules, (None, None), demand)
    assert by_capacity[:, 0].tolist() == [1, 1]
    assert equal._alone(rules, (None, None), demand).T.tolist() == [[2, 0], [1, 0], [0, 1]]


@pytest.mark.parametrize("path", SCENARIOS[:3], ids=lambda p: p.stem)
def test_the_equal_share_oracle_keeps_every_rule_and_pays_at_least_the_oracle(path: Path) -> None:
    world = build_world(shortened(path, 1800))
    oracle = EqualShareOracle()
    oracle.start(Fleet(world, capacity_routing=False))
    plan = oracle.oracle_ready(0, world.steps)
    _check_rules(world, plan)
    # Each step's fleet carries its count x its weakest replica: at least the demand.
    for s in range(len(world.services)):
        rows = oracle.index[s]
        capacity = np.array(
            [
                world.slo_capacity(world.options[d], world.best_batching(world.options[d]))
                for d in rows
            ]
        )
        counts = plan[rows]
        weakest = np.where(counts > 0, capacity[:, None], np.inf).min(axis=0)
        assert np.all(counts.sum(axis=0) * weakest >= world.rates[s] * (1 - 1e-9))
    equal = simulate_policy(world, EqualShareOracle(), name="oracle-equal-share")
    routed = simulate(world, "oracle")
    assert equal.cost_usd >= routed.cost_usd * (1 - 1e-9)
    assert equal.slo_attainment >= 0.99


def test_the_oracle_shares_a_bounded_pool_between_services(tmp_path: Path) -> None:
    """Two copies of bert-base on pools of 3 replicas each: together they must fit."""
    examples = ROOT / "examples"
    trace = ROOT / "data" / "traces" / "azure_llm_2023_conv.csv"
    pools = "\n---\n".join(
        (examples / "pools" / name).read_text().replace("maxReplicas: 40", "maxReplicas: 3")
        .replace("maxReplicas: 20", "maxReplicas: 3")
        for name in ("g6-xlarge.yaml", "inf2-xlarge-spot.yaml", "inf2-xlarge-ondemand.yaml")
    )  # fmt: skip
    service = (examples / "services" / "bert-base.yaml").read_text()
    second = service.replace("name: bert-base", "name: bert-two", 1)
    path = tmp_path / "shared.yaml"
    path.write_text(
        f"""apiVersion: sim.infercost.io/v1alpha1
kind: Workload
metadata: {{name: shared}}
spec:
  duration: 600
  baselinePool: g6-xlarge
  services:
  - {{name: bert-base, namespace: ml, peakRps: 20000,
     trace: {{path: {trace}, format: requests-csv, timeColumn: TIMESTAMP}}}}
  - {{name: bert-two, namespace: ml, peakRps: 15000, offsetSeconds: 900,
     trace: {{path: {trace}, format: requests-csv, timeColumn: TIMESTAMP}}}}
---
{pools}
---
{service}
---
{second}
"""
    )
    world = build_world(load_scenario(path))
    oracle, plan = _oracle_plan(world)
    assert [len(m) for m in oracle.members] == [2]
    _check_rules(world, plan)
    assert oracle.joint  # the separate optima overfilled a pool at some steps


def test_hpa_pods_metric_follows_the_documented_algorithm() -> None:
    # No pod starting: ceil(ratio x ready) outside the 10% tolerance, else hold.
    got = pods_metric_replicas(
        usage=np.array([4 * 1.05, 4 * 1.5, 4 * 0.5]),
        ready=np.array([4, 4, 4]),
        replicas=np.array([4, 4, 4]),
    )
    assert got.tolist() == [4, 6, 2]
    # Two pods starting (no metric): 0% when scaling up, 100% of target when scaling down.
    got = pods_metric_replicas(
        usage=np.array([2 * 2.0, 2 * 3.0, 2 * 0.5, 2 * 1.5]),
        ready=np.array([2, 2, 2, 2]),
        replicas=np.array([4, 4, 4, 4]),
    )
    # 4/4 = 1.0: hold; 6/4 -> 6; (1+2)/4 = 0.75 -> 3; 3/4 flips direction: hold.
    assert got.tolist() == [4, 6, 3, 4]
    # Nothing ready reports a metric: hold.
    assert pods_metric_replicas(
        usage=np.array([0.0]), ready=np.array([0]), replicas=np.array([3])
    ).tolist() == [3]


def test_keda_uses_the_external_metric_formula() -> None:
    # KEDA HTTP add-on docs: target 100, concurrency 250 -> ceil(250 / 100) = 3.
    got = external_metric_replicas(
        total=np.array([250.0, 105.0, 0.0]),
        target=np.array([100.0, 100.0, 100.0]),
        replicas=np.array([1, 1, 4]),
    )
    assert got.tolist() == [3, 1, 0]


def _constant(tmp_path: Path, rate: float, seconds: int) -> World:
    trace = tmp_path / "flat.txt"
    trace.write_text("\n".join([str(rate)] * seconds))
    examples = ROOT / "examples"
    path = tmp_path / "flat.yaml"
    path.write_text(
        f"""apiVersion: sim.infercost.io/v1alpha1
kind: Workload
metadata: {{name: flat}}
spec:
  duration: {seconds}
  baselinePool: g6-xlarge
  include: [{examples / "pools"}, {examples / "services" / "bert-base.yaml"}]
  services:
  - {{name: bert-base, namespace: ml, trace: {{path: {trace}, format: rate-series}}}}
"""
    )
    return build_world(load_scenario(path))


def test_under_steady_load_keda_and_hpa_settle_on_the_same_fleet(tmp_path: Path) -> None:
    """No oscillation: at a flat 20,000/s both hold the replicas the 70% target needs."""
    world = _constant(tmp_path, 20000.0, 1500)
    hpa, keda = simulate(world, "hpa"), simulate(world, "keda-queue")
    tail = slice(-20, None)
    hpa_replicas = hpa.timeline.replicas_by_pool["g6-xlarge"][tail]
    keda_replicas = keda.timeline.replicas_by_pool["g6-xlarge"][tail]
    assert len(set(hpa_replicas)) == 1
    assert len(set(keda_replicas)) == 1
    assert abs(hpa_replicas[0] - keda_replicas[0]) <= 1
    assert hpa.slo_attainment >= 0.99
    assert keda.slo_attainment >= 0.99
