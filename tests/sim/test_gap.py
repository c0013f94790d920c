"""`make bench-gap`'s what-ifs change what they say and nothing else, and the oracle that
plans once per interval is sized for each interval's peak."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tests.support.scenarios import shortened

from infercost.sim import gap
from infercost.sim.fleet import Fleet
from infercost.sim.oracle import Oracle, block_peaks
from infercost.sim.quiet import quiet_stdout
from infercost.sim.run import simulate, simulate_policy
from infercost.sim.scenario import load_scenario
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
CODE_BERT = ROOT / "examples" / "scenarios" / "azure-code-bert.yaml"


def test_block_peaks_raise_each_step_to_its_block_s_highest_demand() -> None:
    demand = np.array([[1.0, 5.0, 2.0, 7.0, 3.0], [0.0, 0.0, 4.0, 1.0, 9.0]])
    assert block_peaks(demand, 2).tolist() == [[5, 5, 7, 7, 3], [0, 0, 4, 4, 9]]
    assert block_peaks(demand, 1) is demand


def test_the_what_ifs_change_copies_and_only_their_fields() -> None:
    scenario = load_scenario(CODE_BERT)
    instant = gap.instant_replicas(scenario)
    assert {p.spec.provisioning_seconds for p in instant.pools} == {0}
    assert {v.startup_seconds for s in instant.services for v in s.spec.variants} == {0}
    assert [p.spec.pricing for p in instant.pools] == [p.spec.pricing for p in scenario.pools]
    assert min(p.spec.provisioning_seconds for p in scenario.pools) > 0  # the original stays
    scaling = gap.no_headroom(gap.no_scale_down_delay(scenario)).services[0].spec.scaling
    before = scenario.services[0].spec.scaling
    assert (scaling.headroom, scaling.scale_down_delay_seconds) == (0.0, 0)
    assert (before.headroom, before.scale_down_delay_seconds) == (0.2, 300)
    assert scaling.max_replicas == before.max_replicas
    assert gap.capacity_routing(scenario).workload.spec.routing == "CapacityWeighted"
    assert scenario.workload.spec.routing == "PerReplica"


def test_the_oracle_per_interval_pays_for_each_interval_s_peak() -> None:
    world = build_world(shortened(CODE_BERT, 900))
    every, interval = Oracle(), Oracle(plan_seconds=15)
    for oracle in (every, interval):
        oracle.start(Fleet(world, capacity_routing=True))
    fine, coarse = every.oracle_ready(0, world.steps), interval.oracle_ready(0, world.steps)
    # Constant within each 15 s block, and that block's largest per-second fleet.
    blocks = coarse.reshape(coarse.shape[0], -1, 15)
    assert np.all(blocks == blocks[:, :, :1])
    prices = np.array([o.price_per_replica for o in world.options])
    assert np.all(prices @ coarse >= prices @ fine - 1e-9)
    per_second = simulate(world, "oracle")
    per_interval = simulate_policy(world, Oracle(plan_seconds=15), name="oracle")
    assert per_interval.slo_attainment == pytest.approx(1.0)
    assert per_second.cost_usd < per_interval.cost_usd < 1.2 * per_second.cost_usd


def test_the_gap_table_gives_each_column_and_its_multiple_of_the_oracle() -> None:
    rows = [[(0.1, 0.95), (0.08, 0.99), (0.07, 0.99), (0.07, 0.98), (0.06, 0.98), (0.054, 1.0),
             (0.05, 1.0), (0.04, 1.0)]]  # fmt: skip
    text = gap.table(["demo"], rows)
    assert "| equal-share oracle | oracle per interval | oracle |" in text
    assert "| demo | 0.1000 / 0.950 |" in text
    multiples = "| demo | 2.50x | 2.00x | 1.75x | 1.75x | 1.50x | 1.35x | 1.25x | 1.00x |"
    assert multiples in text
    # The goal's line: "+ capacity routing" against the oracle (0.06 / 0.04), and "+ no
    # headroom" against the equal-share oracle (0.07 / 0.054).
    assert "against the oracle: median 1.50x, worst 1.50x (demo); within 1.1x on 0 of 1" in text
    assert text.splitlines()[-2].endswith("MISS")
    assert text.rstrip().endswith("equal-share oracle: median 1.30x, worst 1.30x (demo)")


def test_the_gap_goal_passes_only_where_every_scenario_is_within_it() -> None:
    near = [(0.0, 1.0)] * 4 + [(0.043, 1.0), (0.05, 1.0), (0.041, 1.0), (0.04, 1.0)]
    far = [(0.0, 1.0)] * 4 + [(0.045, 1.0), (0.05, 1.0), (0.041, 1.0), (0.04, 1.0)]
    assert gap.summary(["a"], [near])[0].endswith("within 1.1x on 1 of 1 (goal: every one)  PASS")
    assert gap.summary(["a", "b"], [near, far])[0].endswith("on 1 of 2 (goal: every one)  MISS")


def test_a_quiet_worker_drops_what_c_code_writes_to_stdout(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # HiGHS writes a debug line to descriptor 1 from C; print() would not show the difference.
    with quiet_stdout():
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution\n")
    os.write(1, b"the table\n")
    out = capfd.readouterr().out
    assert "HighsMip" not in out
    assert "the table" in out
