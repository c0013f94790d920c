"""The step loop: blocks of one control interval, a decision between blocks, metrics at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from infercost.sim.fleet import Fleet
from infercost.sim.oracle import Oracle
from infercost.sim.planned import Decision, Planned, SinglePool
from infercost.sim.policy import Hpa, KedaQueue, Policy, StaticPeak
from infercost.sim.world import World

FloatArray = NDArray[np.float64]
POLICIES: dict[str, Callable[[], Policy]] = {
    "infercost": Planned,
    "oracle": Oracle,
    "hpa": Hpa,
    "keda-queue": KedaQueue,
    "static-peak": StaticPeak,
    "single-pool": SinglePool,
}
STILL_BLOCKS = 20  # policies that never react are stepped 20 intervals at a time
Progress = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass
class Timeline:
    """Per-block series for plots and reports."""

    time: list[float] = field(default_factory=list)
    demand: list[float] = field(default_factory=list)  # all services, mean rps over the block
    p99_ms: list[FloatArray] = field(default_factory=list)  # [service]
    cost: list[float] = field(default_factory=list)  # cumulative dollars
    replicas_by_pool: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Result:
    policy: str
    requests: float
    good_requests: float
    cost_usd: float
    accelerator_hours: float
    overprovisioned_accelerator_hours: float
    budget_violation_seconds: float
    timeline: Timeline
    decisions: list[Decision]
    slo_ms: list[float]

    @property
    def slo_attainment(self) -> float:
        return self.good_requests / self.requests if self.requests else 1.0

    @property
    def cost_per_million_good(self) -> float:
        return self.cost_usd / self.good_requests * 1e6 if self.good_requests else float("inf")

    def contract(self) -> dict[str, object]:
        """The JSON object of DESIGN.md section 7 (names and types are the contract)."""
        return {
            "policy": self.policy,
            "requests": round(self.requests),
            "good_requests": round(self.good_requests),
            "slo_attainment": round(self.slo_attainment, 6),
            "cost_usd": round(self.cost_usd, 4),
            "cost_per_million_good": round(self.cost_per_million_good, 4)
            if np.isfinite(self.cost_per_million_good)
            else None,
            "accelerator_hours": round(self.accelerator_hours, 4),
            "overprovisioned_accelerator_hours": round(self.overprovisioned_accelerator_hours, 4),
            "budget_violation_seconds": round(self.budget_violation_seconds),
        }


def simulate(
    world: World, policy_name: str, *, progress: Progress | None = None, workers: int = 1
) -> Result:
    """Replay the world under one policy. `workers` > 1 splits the services over that many
    processes where that changes no decision (sim/shard.py); otherwise it is ignored."""
    if policy_name not in POLICIES:
        raise ValueError(f"unknown policy {policy_name!r}; one of {', '.join(POLICIES)}")
    if workers > 1:
        from infercost.sim import shard  # shard runs simulate itself: imported on use

        if shard.shardable(world, policy_name, workers):
            return shard.simulate_sharded(world, policy_name, workers=workers, progress=progress)
    policy = POLICIES[policy_name]()
    weighted = world.scenario.workload.spec.routing == "CapacityWeighted"
    fleet = Fleet(world, capacity_routing=policy.capacity_routing or weighted)
    policy.start(fleet)
    pools = sorted({o.pool.metadata.name for o in world.options})
    pool_of = np.array([pools.index(o.pool.metadata.name) for o in world.options])
    timeline = Timeline(replicas_by_pool={p: [] for p in pools})
    totals = np.zeros(6)
    block = world.interval_steps if policy.reactive else world.interval_steps * STILL_BLOCKS
    for start in range(0, world.steps, block):
        steps = min(block, world.steps - start)
        out = fleet.run_block(start, steps, policy.oracle_ready(start, steps))
        totals += [
            out.requests.sum(),
            out.good.sum(),
            out.cost.sum(),
            out.accel_seconds.sum(),
            out.over_accel_seconds.sum(),
            out.budget_violation_seconds.sum(),
        ]
        timeline.time.append((start + steps) * world.step)
        timeline.demand.append(float(out.requests.sum()) / (steps * world.step))
        timeline.p99_ms.append(out.p99_ms)
        timeline.cost.append(float(totals[2]))
        per_pool = np.bincount(pool_of, weights=out.replicas, minlength=len(pools))
        for p, name in enumerate(pools):
            timeline.replicas_by_pool[name].append(float(per_pool[p]))
        if start + steps < world.steps:
            policy.control(fleet, step=start + steps)
        if progress is not None:
            progress(start + steps, world.steps)
    return Result(
        policy=policy_name,
        requests=float(totals[0]),
        good_requests=float(totals[1]),
        cost_usd=float(totals[2]),
        accelerator_hours=float(totals[3]) / 3600,
        overprovisioned_accelerator_hours=float(totals[4]) / 3600,
        budget_violation_seconds=float(totals[5]),
        timeline=timeline,
        decisions=list(getattr(policy, "timeline", [])),
        slo_ms=[world.slo_ms(s) for s in range(len(world.services))],
    )
