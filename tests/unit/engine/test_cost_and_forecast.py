"""Prices, the profile curve, learned capacity and the demand forecast."""

from __future__ import annotations

import math

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service, variant
from hypothesis import given, settings
from hypothesis import strategies as st

from infercost.api.common import LabelSelector
from infercost.api.service import Variant
from infercost.engine.cost import (
    blend_capacity_factor,
    capacity_sample,
    cost_per_million,
    profile_curve,
    replica_hourly_cost,
)
from infercost.engine.forecast import window_max
from infercost.engine.model import DeploymentMetrics, EngineSettings, ServiceState
from infercost.engine.options import Option, selects
from infercost.engine.placement import Problem, solve
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit


def test_replica_price_is_the_node_share_it_uses() -> None:
    inf2 = pool("inf2", accelerator="inferentia2", price=0.76, per_node=2)
    two_cores = Variant.model_validate(
        {
            **variant("v", accelerators={"inferentia2": [(1, 10.0, 1.0)]}),
            "acceleratorsPerReplica": 2,
        }
    )
    one_core = Variant.model_validate(variant("v", accelerators={"inferentia2": [(1, 10.0, 1.0)]}))
    assert replica_hourly_cost(inf2, two_cores) == pytest.approx(0.76)
    assert replica_hourly_cost(inf2, one_core) == pytest.approx(0.38)


def test_cost_per_million() -> None:
    # $0.36/h serving 100/s: 360,000 inferences an hour -> $1 per million.
    assert cost_per_million(0.36, 100.0) == pytest.approx(1.0)
    assert cost_per_million(1.0, 0.0) is None


def test_profile_curve_interpolates_and_never_extrapolates_up() -> None:
    spec = Variant.model_validate(
        variant("v", accelerators={"x": [(4, 400.0, 4.0), (16, 1000.0, 16.0), (16, 1200.0, 18.0)]})
    )
    curve = profile_curve(spec, "x")
    assert curve is not None
    assert curve.batch_sizes == (4, 16)
    assert curve.throughput_at(16) == pytest.approx(1100.0)  # repeated runs averaged
    # Execution time is linear in the batch between measurements: 10 ms at 4, 14.55 ms at 16,
    # so 12.27 ms at 10 -> 815/s (a straight line in throughput would say 750/s).
    assert curve.throughput_at(10) == pytest.approx(10 / (0.01 + 0.5 * (16 / 1100 - 0.01)))
    assert curve.latency_at(10) == pytest.approx(10.5)
    assert curve.throughput_at(64) == pytest.approx(1100.0)  # clamped, not extrapolated
    assert curve.throughput_at(2) == pytest.approx(200.0)  # below: no batching gain assumed
    assert curve.latency_at(2) == pytest.approx(4.0)
    assert profile_curve(spec, "y") is None


def test_capacity_sample_is_the_throughput_at_the_batch_run_whatever_the_load() -> None:
    busy = DeploymentMetrics(inferences_per_second=600.0, busy_fraction=0.5)
    assert capacity_sample(busy, replicas=3) == pytest.approx(400.0)
    # A tenth as busy at a twentieth of the load: half the throughput per unit busy time
    # (smaller batches), read as such rather than ignored.
    light = DeploymentMetrics(inferences_per_second=20.0, busy_fraction=0.1)
    assert capacity_sample(light, replicas=1) == pytest.approx(200.0)
    idle = DeploymentMetrics(inferences_per_second=0.0, busy_fraction=0.0)
    assert capacity_sample(idle, replicas=1) is None
    assert capacity_sample(DeploymentMetrics(), replicas=1) is None


def test_blend_moves_towards_the_sample_and_is_bounded() -> None:
    blend = EngineSettings(learned_capacity_weight=0.3)
    assert blend_capacity_factor(
        previous=None, prior_throughput=100.0, sample=50.0, settings=blend
    ) == pytest.approx(0.85)
    jump = EngineSettings(learned_capacity_weight=1.0, learned_capacity_bound=5.0)
    factor = blend_capacity_factor(previous=1.0, prior_throughput=100.0, sample=0.0, settings=jump)
    assert factor == 0.2


def test_window_max() -> None:
    history = [(0.0, 900.0), (100.0, 50.0), (200.0, 300.0)]
    assert window_max(history, now=200.0, window=150.0) == 300.0
    assert window_max(history, now=200.0, window=500.0) == 900.0
    assert window_max([], now=0.0, window=10.0) == 0.0


@st.composite
def larger(draw: st.DrawFn) -> Problem:
    count = draw(st.integers(4, 12))
    options = tuple(
        Option(
            variant=f"v{i}",
            pool=f"p{draw(st.integers(0, count - 1))}",
            accelerator_type="x",
            hourly_cost=draw(st.integers(5, 400)) / 100,
            throughput=float(draw(st.integers(100, 10_000))),
            batching=None,
            spot=draw(st.booleans()),
            free_replicas=draw(st.one_of(st.none(), st.integers(0, 40))),
            startup_seconds=0.0,
        )
        for i in range(count)
    )
    # Options of one pool share its room: give them the same one, as build_options does.
    rooms: dict[str, int | None] = {}
    options = tuple(
        o
        if rooms.setdefault(o.pool, o.free_replicas) == o.free_replicas
        else Option(**{**o.__dict__, "free_replicas": rooms[o.pool]})  # type: ignore[arg-type]
        for o in options
    )
    return Problem(
        options=options,
        required=float(draw(st.integers(0, 200_000))),
        min_total=draw(st.integers(0, 3)),
        max_total=draw(st.integers(3, 80)),
        max_spot_fraction=draw(st.sampled_from([0.0, 0.25, 0.6, 1.0])),
        budget=draw(st.one_of(st.none(), st.integers(1, 100).map(float))),
        current={o.key: draw(st.integers(0, 5)) for o in options},
    )


@settings(max_examples=80, deadline=None)
@given(larger())
def test_search_and_highs_agree_on_larger_instances(problem: Problem) -> None:
    fast, reference = solve(problem), solve(problem, backend="highs")
    assert fast.met == reference.met
    assert math.isclose(fast.capacity, reference.capacity, rel_tol=1e-6) or fast.met
    if fast.met:

        def objective(replicas: dict[tuple[str, str], int]) -> float:
            return sum(o.hourly_cost * replicas.get(o.key, 0) for o in problem.options)

        # HiGHS stops within its relative MIP gap (1e-4 by default): the exact search is never
        # dearer than HiGHS's answer, and HiGHS is never more than the gap above it.
        ours, theirs = objective(dict(fast.replicas)), objective(dict(reference.replicas))
        assert ours <= theirs * (1 + 1e-6)
        assert ours >= theirs * (1 - 1e-4)


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        (None, True),
        ({"matchLabels": {"team": "ml"}}, True),
        ({"matchLabels": {"team": "web"}}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["dev"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["a"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
        (
            {
                "matchLabels": {"team": "ml"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["dev"]}],
            },
            False,
        ),
    ],
)
def test_pool_selector_semantics(selector: dict[str, object] | None, selected: bool) -> None:
    parsed = None if selector is None else LabelSelector.model_validate(selector)
    assert selects(parsed, {"team": "ml", "tier": "prod"}) is selected


SPEC = service([GPU], scaling={"maxReplicas": 50})


def test_the_forecast_looks_as_far_ahead_as_the_running_pools_start() -> None:
    # Demand grew steadily for an hour, 10% over the running pool's horizon (30 s
    # provisioning + 60 s start-up + an interval + half the rate window: 135 s). A far pool
    # nobody would pick takes 960 s to start: read that far ahead (1,005 s), demand would
    # double and a third replica be ordered; 135 s ahead two replicas still fit.
    pools = [pool("l4", provisioning=30), pool("slow", price=5.0, provisioning=900)]
    growth = math.log(1.1) / 135.0
    history = tuple(
        (NOW - 15.0 * k, 400.0 * math.exp(-growth * 15.0 * k)) for k in range(240, -1, -1)
    )
    plan = decide(
        decision(
            SPEC,
            pools,
            demand=400.0,
            p99=10.0,
            current={KEY: running(2)},
            state=ServiceState(demand_history=history),
            # The window reaches the far pool's horizon too: only the choice of horizon
            # keeps the third replica out.
            settings=EngineSettings(horizon_window_seconds=3600.0),
        )
    )
    assert sum(a.replicas for a in plan.allocations) == 2
