"""A simulated day under a team budget whose prices rise at noon: the Cap is never exceeded.

examples/scenarios/budgets/twitter-ml-team.yaml: bert-base and resnet50 share the BudgetPolicy
ml-team (Cap $3/h) over a day of the Twitter trace; at noon the on-demand prices rise 30% and
the inf2 spot price moves to another published per-AZ price. The simulator's infercost policy
splits the Cap every control interval (engine/team_round.py) and the fleet pays the prices in
effect. Every block's team $/h is what the simulated fleet was charged (replicas starting
included), not what the planner said.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infercost.engine.model import DecisionInput, Plan, Reason
from infercost.engine.planner import decide
from infercost.sim.fleet import BlockResult
from infercost.sim.planned import Planned
from infercost.sim.run import replay
from infercost.sim.scenario import ScenarioError, load_scenario
from infercost.sim.shard import shardable
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "scenarios" / "budgets" / "twitter-ml-team.yaml"
NOON = 43_200


def test_the_team_cap_holds_over_a_day_of_rising_prices() -> None:
    scenario = load_scenario(SCENARIO)
    (policy,) = scenario.budgets
    cap = policy.spec.max_hourly_cost
    world = build_world(scenario)
    assert not shardable(world, "infercost", 2), "a split spans the services: one process"
    team: list[tuple[float, float]] = []  # (block start s, team $/h charged)
    limited: list[float] = []  # times a service was held to its team share
    g6_price: dict[bool, set[float]] = {False: set(), True: set()}

    def sink(out: BlockResult, start: int, steps: int) -> None:
        hours = steps * world.step / 3600
        team.append((start * world.step, float(out.cost.sum()) / hours))

    def recording(inp: DecisionInput) -> Plan:
        plan = decide(inp)
        (g6,) = [p for p in inp.pools if p.name == "g6-xlarge"]
        g6_price[inp.now >= NOON].add(g6.hourly_per_node)
        within = [c for c in plan.conditions if c.type == "WithinBudget"]
        if any(c.reason == Reason.TEAM_BUDGET_LIMITED.value for c in within):
            limited.append(inp.now)
        return plan

    replay(world, Planned(recording), sink=sink)
    morning = max(v for t, v in team if t < NOON)
    afternoon = max(v for t, v in team if t >= NOON)
    print(
        f"team $/h: max before noon ${morning:.4f}, after ${afternoon:.4f}, Cap ${cap:.2f}; "
        f"{len(limited)} plans held to a team share ({sum(t >= NOON for t in limited)} after noon)"
    )
    assert len(team) == world.steps // world.interval_steps
    assert max(v for _, v in team) <= cap + 1e-6
    assert g6_price == {False: {0.8048}, True: {1.04624}}, "the planner saw the noon prices"
    assert any(t < NOON for t in limited), "the Cap never bound before noon"
    assert any(t >= NOON for t in limited), "the Cap never bound after noon"


def test_a_price_change_for_an_unknown_pool_names_the_field(tmp_path: Path) -> None:
    text = SCENARIO.read_text().replace("pool: g4dn-xlarge", "pool: g9-huge")
    text = text.replace("../../", f"{SCENARIO.parent}/../../")
    bad = tmp_path / "scenario.yaml"
    bad.write_text(text)
    with pytest.raises(ScenarioError, match=r"spec.priceChanges\[1\].pool 'g9-huge'"):
        load_scenario(bad)
