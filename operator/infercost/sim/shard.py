"""The planner's policies on several cores: services split into shards, one process each.

Exact, not an approximation: under `infercost` and `single-pool` a service's run depends
on other services only through `PoolView.replicas_used_by_others`, which the engine reads
only for pools with `maxReplicas`. Without such a pool every service's decisions, replicas,
latencies and costs are the same whichever services share its process; the shards' results
are merged per block (sums, and per-service series side by side). Only sums over services
(totals, demand, cost) may differ in the last bits, from the order of the additions.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection

import numpy as np

from infercost.sim.run import Progress, Result, Timeline, simulate
from infercost.sim.world import Option, Tables, World

PLANNED = ("infercost", "single-pool")


def workers_available() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shardable(world: World, policy_name: str, workers: int) -> bool:
    """Whether splitting the services changes nothing the policy decides (see module doc)."""
    return (
        workers > 1
        and policy_name in PLANNED
        and len(world.services) >= workers
        and all(pool.spec.max_replicas is None for pool in world.scenario.pools)
        and "fork" in multiprocessing.get_all_start_methods()
    )


def subset(world: World, first: int, stop: int) -> World:
    """The world of services [first, stop) alone (options re-indexed, fresh tables)."""
    options: list[Option] = []
    for option in world.options:
        if first <= option.service < stop:
            options.append(replace(option, index=len(options), service=option.service - first))
    return replace(
        world,
        services=world.services[first:stop],
        rates=world.rates[first:stop],
        options=options,
        tables=Tables(),
    )


def simulate_sharded(
    world: World, policy_name: str, *, workers: int, progress: Progress | None = None
) -> Result:
    """`simulate` with the services split over `workers` processes (forked: traces shared)."""
    count = len(world.services)
    bounds = [count * k // workers for k in range(workers + 1)]
    context = multiprocessing.get_context("fork")
    children = []
    for k in range(1, workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_child, args=(send, subset(world, bounds[k], bounds[k + 1]), policy_name)
        )
        process.start()
        send.close()
        children.append((process, receive))
    try:
        parts = [simulate(subset(world, bounds[0], bounds[1]), policy_name, progress=progress)]
        for process, receive in children:
            status, payload = receive.recv()
            process.join()
            if status != "ok":
                raise RuntimeError(f"simulator shard failed:\n{payload}")
            parts.append(payload)
    finally:
        for process, _ in children:
            if process.is_alive():
                process.kill()
                process.join()
    return merge(world, policy_name, parts)


def _child(send: Connection, world: World, policy_name: str) -> None:
    try:
        send.send(("ok", simulate(world, policy_name)))
    except BaseException:  # the parent reports it; a child must not die silently
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


def merge(world: World, policy_name: str, parts: list[Result]) -> Result:
    """One Result from shards of consecutive services, in service order."""
    pools = sorted({o.pool.metadata.name for o in world.options})
    blocks = len(parts[0].timeline.time)
    timeline = Timeline(
        time=list(parts[0].timeline.time),
        demand=[sum(p.timeline.demand[b] for p in parts) for b in range(blocks)],
        p99_ms=[np.concatenate([p.timeline.p99_ms[b] for p in parts]) for b in range(blocks)],
        cost=[sum(p.timeline.cost[b] for p in parts) for b in range(blocks)],
        replicas_by_pool={
            name: [
                sum(p.timeline.replicas_by_pool.get(name, [0.0] * blocks)[b] for p in parts)
                for b in range(blocks)
            ]
            for name in pools
        },
    )
    # The sequential run decides service after service within an interval: a stable sort by
    # time of the shards in service order gives that order back.
    decisions = sorted((d for p in parts for d in p.decisions), key=lambda d: d.time)
    return Result(
        policy=policy_name,
        requests=sum(p.requests for p in parts),
        good_requests=sum(p.good_requests for p in parts),
        cost_usd=sum(p.cost_usd for p in parts),
        accelerator_hours=sum(p.accelerator_hours for p in parts),
        overprovisioned_accelerator_hours=sum(p.overprovisioned_accelerator_hours for p in parts),
        budget_violation_seconds=sum(p.budget_violation_seconds for p in parts),
        timeline=timeline,
        decisions=decisions,
        slo_ms=[ms for p in parts for ms in p.slo_ms],
    )
