"""Triton's response cache in the simulator: the replicas compute the misses only, cached
answers count as requests and as good ones, and the planner sizes for the misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.support.scenarios import steady_bert_base

from infercost.sim.fleet import Fleet
from infercost.sim.run import simulate
from infercost.sim.scenario import ScenarioError, load_scenario
from infercost.sim.world import World, build_world

pytestmark = pytest.mark.sim
RATE = 6000.0  # requests/s, several L4 replicas' worth
SECONDS = 1200


def _world(tmp_path: Path, hit_ratio: float | str) -> World:
    path = steady_bert_base(
        tmp_path,
        rate=RATE,
        seconds=SECONDS,
        name=f"cached-{hit_ratio}",
        extra=f"cacheHitRatio: {hit_ratio}",
    )
    return build_world(load_scenario(path))


def test_the_replicas_compute_the_misses_only(tmp_path: Path) -> None:
    world = _world(tmp_path, 0.4)
    assert np.allclose(world.rates[0], RATE * 0.6)
    assert world.cached_share()[0] == pytest.approx(0.4 / 0.6)


def test_cached_answers_need_an_endpoint(tmp_path: Path) -> None:
    """Requests reach the cache through the Service: without a ready replica they fail."""
    world = _world(tmp_path, 0.4)
    result = Fleet(world).run_block(0, world.interval_steps)
    assert result.requests.sum() == pytest.approx(RATE * world.interval_steps * world.step)
    assert result.good.sum() == 0.0


def test_the_cache_cuts_the_cost_of_every_good_answer(tmp_path: Path) -> None:
    plain = simulate(_world(tmp_path, 0.0), "infercost")
    cached = simulate(_world(tmp_path, 0.5), "infercost")
    print(
        f"\ninfercost at {RATE:.0f}/s: $/1M good {plain.cost_per_million_good:.4f} without cache, "
        f"{cached.cost_per_million_good:.4f} at hit ratio 0.5; SLO attainment "
        f"{plain.slo_attainment:.4f} / {cached.slo_attainment:.4f}"
    )
    # Every request is counted either way: cached answers are requests too.
    assert cached.requests == pytest.approx(plain.requests, rel=1e-6)
    assert cached.slo_attainment >= plain.slo_attainment - 0.01
    # Half the requests need no replica: well under the cost without the cache.
    assert cached.cost_per_million_good < 0.75 * plain.cost_per_million_good


@pytest.mark.parametrize("hit_ratio", [-0.1, 1.0, "often"])
def test_a_hit_ratio_out_of_range_is_refused(tmp_path: Path, hit_ratio: float | str) -> None:
    with pytest.raises(ScenarioError, match="cacheHitRatio"):
        _world(tmp_path, hit_ratio)
