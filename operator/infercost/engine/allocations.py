"""Target replicas to allocations, and the migration rule: old replicas stay until new ones serve."""

from __future__ import annotations

import math
from collections.abc import Mapping

from infercost.engine.batching import OFF
from infercost.engine.model import Allocation, BatchConfig, CurrentDeployment, ServiceState
from infercost.engine.options import Key, Option


def keep_until_ready(
    wanted: Mapping[Key, int],
    *,
    current: Mapping[Key, CurrentDeployment],
    by_key: Mapping[Key, Option],
    demand: float,
    max_total: int,
    max_hourly: float | None,
) -> tuple[dict[Key, int], bool]:
    """Wanted replicas, plus the old ones that must stay until their replacements are ready.

    Old replicas are kept only up to `max_total` replicas and `max_hourly` $/h in all
    (maxReplicas and a Cap budget hold even during a migration), most efficient first.
    """
    final = dict(wanted)
    starting = any(
        n > (current[k].ready_replicas if k in current else 0) for k, n in wanted.items()
    )
    shrinking = [k for k, dep in current.items() if wanted.get(k, 0) < dep.replicas]
    if not starting or not shrinking:
        return final, False
    ready_capacity = sum(
        min(n, current[k].ready_replicas if k in current else 0) * throughput_of(k, by_key)
        for k, n in wanted.items()
    )
    if ready_capacity >= demand:
        return final, False
    room = max_total - sum(final.values())
    money = math.inf if max_hourly is None else max_hourly - _hourly(final, by_key)
    for key in sorted(shrinking, key=lambda k: (-throughput_of(k, by_key), k)):
        # Unschedulable replicas are not kept: they would never start (the pool is full).
        # Replicas on nodes going away serve while ready; their Pending replacements do not.
        dep = current[key]
        held = dep.replicas - dep.unschedulable_replicas
        if dep.disrupted_replicas:
            held = min(held, max(dep.ready_replicas, dep.replicas - dep.lost_replicas))
        keep = min(held - final.get(key, 0), max(0, room))
        price = by_key[key].hourly_cost if key in by_key else 0.0
        if price > 0 and money < math.inf:
            keep = min(keep, max(0, math.floor(money / price + 1e-9)))
        if keep > 0:
            final[key] = final.get(key, 0) + keep
            room -= keep
            money -= keep * price
    return final, any(final.get(k, 0) > wanted.get(k, 0) for k in shrinking)


def ready_capacity_kept(
    wanted: Mapping[Key, int],
    *,
    current: Mapping[Key, CurrentDeployment],
    by_key: Mapping[Key, Option],
    demand: float,
    max_total: int,
    max_hourly: float | None,
) -> tuple[float, float]:
    """Ready capacity now, and what stays ready if `wanted` is applied with `keep_until_ready`.

    A move is safe only if the second is not below what must be carried: a Cap budget or
    maxReplicas can forbid keeping the old replicas, and then the move would take ready
    capacity away for as long as the new replicas take to start.
    """
    final, _ = keep_until_ready(
        wanted,
        current=current,
        by_key=by_key,
        demand=demand,
        max_total=max_total,
        max_hourly=max_hourly,
    )
    now = sum(dep.ready_replicas * throughput_of(k, by_key) for k, dep in current.items())
    kept = sum(
        min(n, current[k].ready_replicas) * throughput_of(k, by_key)
        for k, n in final.items()
        if k in current
    )
    return now, kept


def _hourly(replicas: Mapping[Key, int], by_key: Mapping[Key, Option]) -> float:
    return sum(by_key[k].hourly_cost * n for k, n in replicas.items() if k in by_key)


def throughput_of(key: Key, by_key: Mapping[Key, Option]) -> float:
    option = by_key.get(key)
    return option.throughput if option is not None else 0.0


def allocations_for(
    final: Mapping[Key, int],
    *,
    by_key: Mapping[Key, Option],
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
) -> list[Allocation]:
    allocations = []
    for key in sorted(final):
        replicas = final[key]
        if replicas <= 0:
            continue
        option = by_key.get(key)
        batching = batching_for(key, option, current, state)
        allocations.append(
            Allocation(
                variant=key[0],
                pool=key[1],
                replicas=replicas,
                batching=batching,
                hourly_cost=(option.hourly_cost if option else 0.0) * replicas,
                throughput_per_replica=option.throughput if option else 0.0,
            )
        )
    return allocations


def batching_for(
    key: Key,
    option: Option | None,
    current: Mapping[Key, CurrentDeployment],
    state: ServiceState,
) -> BatchConfig:
    if option is not None and option.batching is not None:
        return option.batching.config
    running = current.get(key)
    if running is not None and running.batching is not None:
        return running.batching
    return state.batching.get(key, OFF)
