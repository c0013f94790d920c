"""The planner's policies on several cores: services split into shards, one process each.

Exact, not an approximation: under `infercost` and `single-pool` a service's run depends
on other services only through `PoolView.replicas_used_by_others`, which the engine reads
only for pools with `maxReplicas`. Without such a pool every service's decisions, replicas,
latencies and costs are the same whichever services share its process; the shards' results
are put side by side again per block and summed as one process sums them: the Result is the
same, bit for bit.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection

import numpy as np
from numpy.typing import NDArray

from infercost.sim.fleet import BlockResult
from infercost.sim.planned import Decision
from infercost.sim.run import POLICIES, Progress, Result, Totals, replay
from infercost.sim.world import Option, Tables, World

FloatArray = NDArray[np.float64]

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
        and not world.scenario.budgets  # a BudgetPolicy's split spans the services
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
        hit_ratio=world.hit_ratio[first:stop],
        options=options,
        tables=Tables(),
    )


_FIELDS = (
    "requests",
    "good",
    "cost",
    "accel_seconds",
    "over_accel_seconds",
    "budget_violation_seconds",
    "p99_ms",
    "replicas",
)


class Blocks:
    """Every block's per-service (and per-deployment) figures of one shard, kept to be merged."""

    def __init__(self) -> None:
        self.starts: list[tuple[int, int]] = []
        self.rows: dict[str, list[FloatArray]] = {name: [] for name in _FIELDS}

    def add(self, out: BlockResult, start: int, steps: int) -> None:
        self.starts.append((start, steps))
        for name in _FIELDS:
            self.rows[name].append(getattr(out, name))

    def stacked(self) -> dict[str, FloatArray]:
        """[block, service or deployment] per figure: few large arrays travel fast."""
        return {name: np.stack(rows) for name, rows in self.rows.items()}


Part = tuple[list[tuple[int, int]], dict[str, FloatArray], list[Decision]]


def simulate_sharded(
    world: World, policy_name: str, *, workers: int, progress: Progress | None = None
) -> Result:
    """`simulate` with the services split over `workers` processes (forked: traces shared).

    The shards' per-service figures are put side by side again and summed exactly as one
    process sums them, so the Result is the one a single process returns, bit for bit."""
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
        parts = [_part(subset(world, bounds[0], bounds[1]), policy_name, progress)]
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


def _part(world: World, policy_name: str, progress: Progress | None) -> Part:
    blocks = Blocks()
    decisions = replay(world, POLICIES[policy_name](), sink=blocks.add, progress=progress)
    return blocks.starts, blocks.stacked(), decisions


def _child(send: Connection, world: World, policy_name: str) -> None:
    try:
        send.send(("ok", _part(world, policy_name, None)))
    except BaseException:  # the parent reports it; a child must not die silently
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


def merge(world: World, policy_name: str, parts: list[Part]) -> Result:
    """One Result from shards of consecutive services, in service order."""
    totals = Totals(world)
    for b, (start, steps) in enumerate(parts[0][0]):
        rows = {name: np.concatenate([part[1][name][b] for part in parts]) for name in _FIELDS}
        totals.add(BlockResult(**rows), start, steps)
    # One process decides service after service within an interval: a stable sort by time
    # of the shards' decisions, in service order, gives that order back.
    decisions = sorted((d for part in parts for d in part[2]), key=lambda d: d.time)
    return totals.result(policy_name, decisions)
