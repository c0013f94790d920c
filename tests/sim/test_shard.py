"""Services split over processes (sim/shard.py) decide exactly as in one process."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from infercost.sim.bench import _scenario
from infercost.sim.run import simulate
from infercost.sim.shard import shardable
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("policy", ["infercost", "single-pool"])
def test_two_shards_give_the_decisions_and_figures_of_one_process(policy: str) -> None:
    world = build_world(_scenario(6, 900))
    assert shardable(world, policy, 2)
    alone = simulate(world, policy)
    split = simulate(build_world(_scenario(6, 900)), policy, workers=2)
    assert split.decisions == alone.decisions
    assert len(alone.decisions) > 6  # more than the warm start: the planner reacted
    assert split.contract() == alone.contract()
    # Bit for bit: the shards' per-service figures are summed as one process sums them.
    assert (split.requests, split.good_requests, split.cost_usd) == (
        alone.requests,
        alone.good_requests,
        alone.cost_usd,
    )
    assert split.accelerator_hours == alone.accelerator_hours
    assert split.overprovisioned_accelerator_hours == alone.overprovisioned_accelerator_hours
    assert split.timeline.cost == alone.timeline.cost
    assert split.timeline.demand == alone.timeline.demand
    assert split.timeline.replicas_by_pool == alone.timeline.replicas_by_pool
    for ours, theirs in zip(split.timeline.p99_ms, alone.timeline.p99_ms, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_pools_with_a_replica_limit_or_other_policies_stay_in_one_process() -> None:
    world = build_world(_scenario(4, 60))
    assert not shardable(world, "hpa", 2)
    assert not shardable(world, "infercost", 1)
    limited = tuple(
        pool.model_copy(update={"spec": pool.spec.model_copy(update={"max_replicas": 10})})
        for pool in world.scenario.pools
    )
    world.scenario = dataclasses.replace(world.scenario, pools=limited)
    assert world.scenario.pools[0].spec.max_replicas == 10
    assert not shardable(world, "infercost", 2)
