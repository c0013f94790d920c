"""Hypothesis strategies for engine safety: pools, services and sequences of observations.

The operator calls `decide` once per interval and applies the plan; `drive` does the same
with a virtual clock, so a property can be checked after every decision of a sequence in
which prices change, metrics go missing, stale or NaN, and replicas take time to be ready.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import (
    CurrentDeployment,
    DecisionInput,
    Observation,
    Plan,
    PoolView,
    ServiceState,
)
from infercost.engine.planner import decide

START = 1_800_000_000.0
ACCELERATORS = ("nvidia-l4", "nvidia-t4", "inferentia2")


@dataclass(frozen=True, kw_only=True)
class Step:
    """One control interval: how long since the last, what Prometheus says, price changes."""

    seconds: float
    demand: float | None  # None: metric missing
    p99_ms: float | None
    metrics_age: float  # seconds; past the stale limit the observation is stale
    price_factor: tuple[float, ...]  # per pool, applied to its base price
    ready: bool  # whether replicas started last interval are ready now


@st.composite
def pools(draw: st.DrawFn) -> tuple[PoolView, ...]:
    count = draw(st.integers(1, 4))
    out = []
    for index in range(count):
        price = draw(st.sampled_from([0.13, 0.526, 0.7582, 1.006, 3.06]))
        spec = AcceleratorPoolSpec.model_validate(
            {
                "accelerator": {"type": draw(st.sampled_from(ACCELERATORS)), "resourceName": "r"},
                "capacityType": draw(st.sampled_from(["Spot", "OnDemand"])),
                "pricing": {"hourlyPerNode": price},
                "maxReplicas": draw(st.one_of(st.none(), st.integers(0, 30))),
            }
        )
        out.append(PoolView(name=f"p{index}", labels={}, spec=spec, hourly_per_node=price))
    return tuple(out)


@st.composite
def services(draw: st.DrawFn, *, cap: bool | None = None) -> InferenceServiceSpec:
    variants = []
    for index in range(draw(st.integers(1, 2))):
        types = draw(st.lists(st.sampled_from(ACCELERATORS), min_size=1, max_size=3, unique=True))
        profile = [
            {
                "acceleratorType": kind,
                "batchSize": batch,
                "throughput": draw(st.integers(50, 3000)) * batch**0.5,
                "p99LatencyMs": draw(st.integers(2, 30)) * (1 + batch / 8),
            }
            for kind in types
            for batch in (1, 8)
        ]
        variants.append(
            {
                "name": f"v{index}",
                "acceleratorTypes": types,
                "image": "i",
                "modelRepository": "m",
                "profile": profile,
            }
        )
    low = draw(st.integers(1, 3))  # minReplicas 0: scale to zero, engine/idle.py's own tests
    body: dict[str, Any] = {
        "model": {"name": "m"},
        "variants": variants,
        "slo": {"latencyMs": draw(st.sampled_from([20, 50, 100]))},
        "scaling": {
            "minReplicas": low,
            "maxReplicas": draw(st.integers(max(low, 1), 20)),
            "scaleDownDelaySeconds": draw(st.sampled_from([0, 60, 300])),
        },
        "placement": {"maxSpotFraction": draw(st.sampled_from([0.0, 0.5, 1.0]))},
    }
    with_budget = draw(st.booleans()) if cap is None else cap
    if with_budget:
        body["budget"] = {
            "maxHourlyCost": draw(st.sampled_from([0.5, 2.0, 5.0, 20.0])),
            "onExceeded": "Cap",
        }
    return InferenceServiceSpec.model_validate(body)


def steps(
    pool_count: int, *, max_size: int = 8, metrics: str = "any"
) -> st.SearchStrategy[list[Step]]:
    demand = (
        st.one_of(st.none(), st.just(math.nan), st.floats(0, 50_000))
        if metrics == "any"
        else st.floats(0, 50_000)
    )
    return st.lists(
        st.builds(
            Step,
            seconds=st.sampled_from([15.0, 15.0, 60.0, 600.0]),
            demand=demand,
            p99_ms=st.one_of(st.none(), st.floats(0.1, 500)),
            metrics_age=st.sampled_from([0.0, 10.0, 119.0, 121.0, 3600.0])
            if metrics == "any"
            else st.just(0.0),
            price_factor=st.lists(
                st.sampled_from([0.5, 1.0, 1.0, 1.5, 3.0]), min_size=pool_count, max_size=pool_count
            ).map(tuple),
            ready=st.booleans(),
        ),
        min_size=1,
        max_size=max_size,
    )


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One decision of a sequence, with what it was given."""

    inp: DecisionInput
    plan: Plan
    step: Step


def drive(
    spec: InferenceServiceSpec, base_pools: tuple[PoolView, ...], sequence: list[Step]
) -> Iterator[Decision]:
    """Decide, apply (replicas become ready when the step says so), repeat."""
    now, state = START, ServiceState()
    current: dict[tuple[str, str], CurrentDeployment] = {}
    for step in sequence:
        now += step.seconds
        views = tuple(
            replace(pool, hourly_per_node=pool.hourly_per_node * factor)
            for pool, factor in zip(base_pools, step.price_factor, strict=True)
        )
        observation = Observation(
            time=now - step.metrics_age, demand_rps=step.demand, p99_latency_ms=step.p99_ms
        )
        inp = DecisionInput(
            spec=spec, pools=views, observation=observation, current=current, state=state, now=now
        )
        plan = decide(inp)
        yield Decision(inp=inp, plan=plan, step=step)
        state = plan.state
        current = {
            (a.variant, a.pool): CurrentDeployment(
                replicas=a.replicas,
                ready_replicas=a.replicas
                if step.ready
                else min(a.replicas, _ready((a.variant, a.pool), current)),
                batching=a.batching,
            )
            for a in plan.allocations
        }


def _ready(key: tuple[str, str], current: dict[tuple[str, str], CurrentDeployment]) -> int:
    return current[key].ready_replicas if key in current else 0
