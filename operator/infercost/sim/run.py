"""The step loop: blocks of one control interval, a decision between blocks, metrics at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from infercost.sim.budgets import reprice
from infercost.sim.fleet import BlockResult, Fleet
from infercost.sim.oracle import Oracle
from infercost.sim.planned import Decision, Planned
from infercost.sim.policy import Hpa, KedaQueue, Policy, StaticPeak
from infercost.sim.single_pool import SinglePool
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
Sink = Callable[[BlockResult, int, int], None]  # (block's figures, first step, steps)


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
        """The JSON object of docs/architecture.md section 7 (names and types are the contract)."""
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
    processes where that changes nothing (sim/shard.py); otherwise it is ignored."""
    if policy_name not in POLICIES:
        raise ValueError(f"unknown policy {policy_name!r}; one of {', '.join(POLICIES)}")
    if workers > 1:
        from infercost.sim import shard  # shard runs replay itself: imported on use

        if shard.shardable(world, policy_name, workers):
            return shard.simulate_sharded(world, policy_name, workers=workers, progress=progress)
    return simulate_policy(world, POLICIES[policy_name](), name=policy_name, progress=progress)


def simulate_policy(
    world: World, policy: Policy, *, name: str, progress: Progress | None = None
) -> Result:
    """Replay the world under a policy object (one the CLI does not name: `make bench-gap`)."""
    totals = Totals(world)
    decisions = replay(world, policy, sink=totals.add, progress=progress)
    return totals.result(name, decisions)


def replay(
    world: World, policy: Policy, *, sink: Sink, progress: Progress | None = None
) -> list[Decision]:
    """Step the world block by block under the policy; each block's figures go to `sink`."""
    weighted = world.scenario.workload.spec.routing == "CapacityWeighted"
    fleet = Fleet(world, capacity_routing=policy.capacity_routing or weighted)
    policy.start(fleet)
    block = world.interval_steps if policy.reactive else world.interval_steps * STILL_BLOCKS
    for start in range(0, world.steps, block):
        steps = min(block, world.steps - start)
        reprice(fleet, now=float(start * world.step))  # Workload priceChanges (sim/budgets.py)
        sink(fleet.run_block(start, steps, policy.oracle_ready(start, steps)), start, steps)
        if start + steps < world.steps:
            policy.control(fleet, step=start + steps)
        if progress is not None:
            progress(start + steps, world.steps)
    return list(getattr(policy, "timeline", []))


class Totals:
    """Run totals and the timeline, block after block."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.pools = sorted({o.pool.metadata.name for o in world.options})
        self.pool_of = np.array([self.pools.index(o.pool.metadata.name) for o in world.options])
        self.timeline = Timeline(replicas_by_pool={p: [] for p in self.pools})
        self.totals = np.zeros(6)

    def add(self, out: BlockResult, start: int, steps: int) -> None:
        totals, timeline, step = self.totals, self.timeline, self.world.step
        totals += [
            out.requests.sum(),
            out.good.sum(),
            out.cost.sum(),
            out.accel_seconds.sum(),
            out.over_accel_seconds.sum(),
            out.budget_violation_seconds.sum(),
        ]
        timeline.time.append((start + steps) * step)
        timeline.demand.append(float(out.requests.sum()) / (steps * step))
        timeline.p99_ms.append(out.p99_ms)
        timeline.cost.append(float(totals[2]))
        per_pool = np.bincount(self.pool_of, weights=out.replicas, minlength=len(self.pools))
        for p, name in enumerate(self.pools):
            timeline.replicas_by_pool[name].append(float(per_pool[p]))

    def result(self, policy_name: str, decisions: list[Decision]) -> Result:
        totals, world = self.totals, self.world
        return Result(
            policy=policy_name,
            requests=float(totals[0]),
            good_requests=float(totals[1]),
            cost_usd=float(totals[2]),
            accelerator_hours=float(totals[3]) / 3600,
            overprovisioned_accelerator_hours=float(totals[4]) / 3600,
            budget_violation_seconds=float(totals[5]),
            timeline=self.timeline,
            decisions=decisions,
            slo_ms=[world.slo_ms(s) for s in range(len(world.services))],
        )
