"""A simulated day: a Cap budget is never exceeded while spot and on-demand prices move.

One day of the Twitter-stream trace (data/traces, per-second counts, averaged per
minute and rescaled to a 40,000 inferences/s peak) drives `decide` for the bert-base example
on the six example pools, with a virtual clock and one decision a minute. Prices change:
every hour each spot pool takes one of its published per-AZ spot prices (prices.yaml), some
hours spike to the on-demand price (spot prices can reach it), and at noon every on-demand
price rises 30% (an OpenCost update). Replicas become ready only after the pool's
provisioningSeconds plus the variant's startupSeconds. The Cap ($4/h) binds at the peak, so
the test also shows the budget was the limit (BudgetLimited), not luck.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import replace

import pytest

from infercost.engine.model import (
    CurrentDeployment,
    DecisionInput,
    Observation,
    PoolView,
    Reason,
    ServiceState,
)
from infercost.engine.options import pool_view
from infercost.engine.planner import decide
from infercost.manifests_io import load
from tests.support.crdcheck import DATA, EXAMPLES

pytestmark = pytest.mark.unit

DAY, STEP, PEAK, CAP = 86_400, 60, 40_000.0, 4.0
START = 1_800_000_000.0
# prices.yaml, inf2.xlarge spot.per_az_usd_hr (use1-az2/4/5/6); on-demand 0.7582.
INF2_SPOT = (0.1205, 0.124, 0.1921, 0.1312)
INF2_ON_DEMAND = 0.7582


def minute_demand() -> list[float]:
    trace = DATA / "traces" / "twitter_stream_2021-08_rps.tbz2"
    text = subprocess.run(
        ["tar", "-xjOf", str(trace), "workload.txt"], capture_output=True, check=True, text=True
    ).stdout
    seconds = [float(x) for x in text.split()[:DAY]]
    minutes = [sum(seconds[i : i + STEP]) / STEP for i in range(0, DAY, STEP)]
    scale = PEAK / max(minutes)
    return [m * scale for m in minutes]


def prices(base: list[PoolView], hour: int, rng: random.Random) -> tuple[PoolView, ...]:
    out = []
    for pool in base:
        price = pool.hourly_per_node
        if pool.spec.capacity_type.value == "Spot":
            price = rng.choice(INF2_SPOT) * price / 0.1276
            if rng.random() < 0.15:
                price = max(price, INF2_ON_DEMAND * pool.hourly_per_node / 0.1276)
        elif hour >= 12:
            price *= 1.3
        out.append(replace(pool, hourly_per_node=price))
    return tuple(out)


def test_cap_budget_holds_over_a_day_of_price_changes() -> None:
    manifests = load([EXAMPLES / "pools", EXAMPLES / "services"])
    (service,) = [s for s in manifests.services if s.metadata.name == "bert-base"]
    spec = service.spec.model_copy(
        update={"budget": service.spec.budget.model_copy(update={"max_hourly_cost": CAP})}
    )
    base = [
        pool_view(p.metadata.name, labels=p.metadata.labels, spec=p.spec) for p in manifests.pools
    ]
    startup = {
        (v.name, p.name): v.startup_seconds + p.spec.provisioning_seconds
        for v in spec.variants
        for p in base
    }
    rng = random.Random(2021)
    state, started = ServiceState(), {}  # (variant, pool) -> start times of its replicas
    over, limited, worst, decisions = [], 0, 0.0, 0
    views = prices(base, 0, rng)
    for index, demand in enumerate(minute_demand()):
        now = START + index * STEP
        if index % 60 == 0:
            views = prices(base, index // 60, rng)
        current = {
            key: CurrentDeployment(
                replicas=len(times),
                ready_replicas=sum(1 for t in times if now - t >= startup[key]),
            )
            for key, times in started.items()
            if times
        }
        plan = decide(
            DecisionInput(
                spec=spec,
                pools=views,
                observation=Observation(time=now, demand_rps=demand, p99_latency_ms=None),
                current=current,
                state=state,
                now=now,
            )
        )
        decisions += 1
        state = plan.state
        worst = max(worst, plan.hourly_cost)
        if plan.hourly_cost > CAP + 1e-9:
            over.append((index, plan.hourly_cost))
        limited += any(a.reason == Reason.BUDGET_LIMITED for a in plan.actions) or any(
            c.reason == Reason.BUDGET_LIMITED.value for c in plan.conditions
        )
        wanted = {(a.variant, a.pool): a.replicas for a in plan.allocations}
        for key in set(started) | set(wanted):
            times = started.setdefault(key, [])
            while len(times) > wanted.get(key, 0):
                times.pop()  # the newest go first, as a ReplicaSet scales down
            times.extend([now] * (wanted.get(key, 0) - len(times)))
    print(f"decisions {decisions}, worst ${worst:.3f}/h of ${CAP}/h, BudgetLimited {limited}")
    assert decisions == DAY // STEP
    assert not over, f"Cap exceeded at minutes {over[:5]}"
    assert limited > 0, "the Cap never bound: the test would pass without a budget"
