"""Target replicas to allocations, and the migration rule: old replicas stay until new ones serve."""

from __future__ import annotations

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
) -> tuple[dict[Key, int], bool]:
    """Wanted replicas, plus the old ones that must stay until their replacements are ready."""
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
    if ready_capacity >= demand and demand > 0:
        return final, False
    for key in shrinking:
        final[key] = current[key].replicas
    return final, True


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
